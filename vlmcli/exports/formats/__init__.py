"""One module per export format, each an `Exporter` (see `base.py`), found by `registry.py`."""
