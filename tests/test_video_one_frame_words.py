"""A one-frame video: the model is told when its frame is (not "from 0:00.0 to 0:00.0"), and counts
read "1 frame"."""

from __future__ import annotations

from vlmcli.commands._video_summary_run import frames_text as _frames
from vlmcli.summaries.prompts import SummaryPrompts, segment_prompt


def test_a_segment_whose_ends_print_alike_is_said_at_one_time():
    prompts = SummaryPrompts()
    assert segment_prompt(prompts, start_s=0.0, end_s=0.033).startswith("These frames are at 0:00.0 of a video. ")
    assert segment_prompt(prompts, start_s=0.0, end_s=7.5).startswith("These frames are from 0:00.0 to 0:07.5 of a video. ")


def test_frame_counts_agree_in_number():
    assert (_frames(1), _frames(2), _frames(1200)) == ("1 frame", "2 frames", "1,200 frames")
