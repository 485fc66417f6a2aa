"""`vlm video-summarize`'s orchestration: a video of any length -> segment descriptions ->
(chapter summaries ->) one summary, with the engine asked one segment at a time.

One concept per module, in flow order:

    segments.py      scenes or fixed windows -> segments, and each segment's own view of
                     the video (info, scan, frame plan) for the sampler
    fine_clock.py    variable-frame-rate video planned on a fine constant clock; windows a
                     held frame covers merged, the parts left numbered again
    scene_report.py  how the segments were cut, and whether scene detection fell short
    prompts.py       what each request asks: segment, chapter and summary prompts
    summarize.py     the plan (`plan_summary`) and the run (`summarize`), streaming events

Layering: `commands/video_summarize.py` (flags) and `_video_summary_run.py` (rendering) -> this package -> `vlmcli.engine`
(requests and events) and `vlmcli.video` (probing, scanning, sampling, decoding). Neither of
those imports this package. Importing it is cheap; torch loads with the engine.
"""
