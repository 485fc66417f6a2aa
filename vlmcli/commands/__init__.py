"""The CLI commands, one module per command, each with a `register(app)` function.

This package is the only place that turns library exceptions into exit codes
(`_errors.error_boundary`) and the only place that obtains an engine
(`_runtime.load_engine`). Module level imports here must stay light: `vlm --help`
imports every command module.
"""
