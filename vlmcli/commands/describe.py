"""`vlm describe INPUT...`: one description per image, printed in turn."""

from __future__ import annotations

import enum
from typing import Annotated, Optional

import typer

from vlmcli.commands._errors import error_boundary
from vlmcli.commands._generate import run_requests
from vlmcli.commands._inputs import load_inputs
from vlmcli.commands._render import Item
from vlmcli.commands.options import CommonOptions, with_common_options
from vlmcli.engine.request import Request
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
    "  vlm describe --json --prompt 'List the objects in this image.' a.png b.png"
)


def heading(source: str) -> str:
    """The line printed above each description when several inputs are described."""
    return f"==> {'<stdin>' if source == STDIN else source} <=="


@with_common_options
def describe(
    inputs: Annotated[
        list[str],
        typer.Argument(metavar="INPUT", help="Image files, or - for image bytes on stdin.", show_default=False),
    ],
    opts: CommonOptions,
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
    """Describe images, one answer per image.

    With several inputs, a `==> name <==` line precedes each answer. With --json, one
    object per image, in input order.
    """
    with error_boundary(debug=opts.debug):
        settings = opts.settings()
        images = load_inputs(inputs, command="describe", max_pixels=settings.max_image_pixels)
        text = prompt if prompt is not None else PROMPTS[detail]
        requests = [Request(prompt=text, images=(image,), system=opts.system) for image in images]
        several = len(inputs) > 1
        items = [Item(inputs=(source,), heading=heading(source) if several else None) for source in inputs]
        run_requests(requests, items, opts, settings, batch_size=batch_size)


def register(app: typer.Typer) -> None:
    app.command("describe", epilog=EPILOG, no_args_is_help=True)(describe)
