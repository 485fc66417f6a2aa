"""`vlm describe INPUT...`: one description per image or video, printed in turn."""

from __future__ import annotations

import enum
from typing import Annotated, Optional

import typer

from vlmcli.commands._errors import error_boundary
from vlmcli.commands._generate import run_requests
from vlmcli.commands._inputs import load_inputs
from vlmcli.commands._render import Item
from vlmcli.commands.options import CommonOptions, with_common_options
from vlmcli.commands.video_options import VideoOptions, with_video_options
from vlmcli.engine.request import ImageInput, Request
from vlmcli.media.sources import STDIN


class Detail(str, enum.Enum):
    BRIEF = "brief"
    NORMAL = "normal"
    DETAILED = "detailed"


PROMPTS: dict[Detail, str] = {
    Detail.BRIEF: "Describe this image in one short sentence.",
    Detail.NORMAL: "Describe this image.",
    Detail.DETAILED: (
        "Describe this image in detail: the main subjects, their appearance and actions, "
        "the setting, colours and lighting, and any visible text."
    ),
}

EPILOG = (
    "Examples:\n\n"
    "  vlm describe photo.jpg\n\n"
    "  vlm describe --detail brief *.jpg\n\n"
    "  vlm describe --temporal-pool 2 clip.mp4\n\n"
    "  vlm describe --json --prompt 'List the objects in this image.' a.png b.png"
)


def heading(source: str) -> str:
    """The line printed above each description when several inputs are described."""
    return f"==> {'<stdin>' if source == STDIN else source} <=="


VIDEO_PROMPTS: dict[Detail, str] = {
    Detail.BRIEF: "Describe this video in one short sentence.",
    Detail.NORMAL: "Describe this video.",
    Detail.DETAILED: (
        "Describe this video in detail: the setting, the people and objects, what happens in order, "
        "and any visible text."
    ),
}


@with_video_options
@with_common_options
def describe(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT", help="Image or video files, or - for image bytes on stdin.", show_default=False
        ),
    ],
    opts: CommonOptions,
    video: VideoOptions,
    detail: Annotated[
        Detail, typer.Option(case_sensitive=False, help="How much to say (picks a built-in prompt).")
    ] = Detail.NORMAL,
    prompt: Annotated[
        Optional[str], typer.Option(help="Use this prompt instead of the built-in one.", show_default=False)
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Images per engine call (more is faster on a GPU, uses more memory).")
    ] = 1,
) -> None:
    """Describe images and videos, one answer per input.

    With several inputs, a `==> name <==` line precedes each answer. With --json, one
    object per image, in input order.
    """
    with error_boundary(debug=opts.debug):
        settings = opts.settings()
        video.check()
        media = load_inputs(inputs, command="describe", max_pixels=settings.max_image_pixels, video=video)
        requests = [
            Request(prompt=_prompt(prompt, PROMPTS, detail), images=(item,), system=opts.system)
            if isinstance(item, ImageInput)
            else Request(prompt=_prompt(prompt, VIDEO_PROMPTS, detail), videos=(item,), system=opts.system)
            for item in media
        ]
        several = len(inputs) > 1
        items = [Item(inputs=(source,), heading=heading(source) if several else None) for source in inputs]
        run_requests(requests, items, opts, settings, batch_size=batch_size, video=video)


def _prompt(given: str | None, builtin: dict[Detail, str], detail: Detail) -> str:
    return given if given is not None else builtin[detail]


def register(app: typer.Typer) -> None:
    app.command("describe", epilog=EPILOG, no_args_is_help=True)(describe)
