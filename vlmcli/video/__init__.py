"""Video input: sparse decoding, frame sampling, and the scene-cut scan sampling relies on.

Layering: this package imports nothing from `vlmcli.engine` (nor from `vlmcli.summaries`,
which uses it). The one seam the other way is the engine's `VideoInput`
(`engine/video_input.py`: `from_sampled`, and the `sampling` field that `engine/events.py`
reports), which reads this package's plain results (`sample.SampledVideo`,
`sampling_report.SamplingReport`) so a decoded clip can be handed to the engine:
engine -> video, never back. Visual-token reduction is `vlmcli.reduction`.

Importing this package is cheap (it imports no submodule); decord and PyAV load only when
a file is read.
"""
