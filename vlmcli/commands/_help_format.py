"""How `vlm ... --help` is laid out: Click's plain formatter, with two rules of its own.

- A line never breaks at a hyphen. Click wraps with `textwrap`, which breaks hyphenated
  words (`--max-⏎pixels`, `caption-⏎dir`); here each hyphen of the text is swapped for a
  stand-in character while Click wraps, and put back in the finished page, so a line
  breaks only at spaces and a flag or command name is always whole.
- Examples are given as a block Click never rewraps (`examples()`: its `\\b` paragraph
  marker), so each command line reads as typed, and may be wider than the page.

`cli.py` installs the formatter for the whole app (`HelpContext`); nothing here imports
more than Typer, so `vlm --help` stays instant.
"""

from __future__ import annotations

from collections.abc import Sequence

from typer.core import TyperCommand

_Context = TyperCommand.context_class  # Click's, or the one Typer vendors
_Formatter = _Context.formatter_class

_HYPHEN_HELD = "\ue000"  # a private-use character: never in a help text, never a break for textwrap
RAW = "\b"  # Click: a paragraph starting with this line is printed as it is, not rewrapped


def _held(text: str) -> str:
    return text.replace("-", _HYPHEN_HELD)


class HelpFormatter(_Formatter):  # type: ignore[misc,valid-type]
    """Click's HelpFormatter, breaking lines only at spaces."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, _held(args), prefix)

    def write_text(self, text: str) -> None:
        super().write_text(_held(text))

    def write_dl(self, rows: Sequence[tuple[str, str]], *args: object, **kwargs: object) -> None:
        super().write_dl([(first, _held(second)) for first, second in rows], *args, **kwargs)

    def getvalue(self) -> str:
        return str(super().getvalue()).replace(_HYPHEN_HELD, "-")


class HelpContext(_Context):  # type: ignore[misc,valid-type]
    formatter_class = HelpFormatter


def examples(*lines: str, heading: str = "Examples:", after: str = "") -> str:
    """An epilog: `heading`, then `lines` (commands, or a file's lines) one per line, kept as
    written (Click's `\\b` block: never rewrapped), then the paragraph `after`, if any."""
    block = "\n".join(f"  {line}" for line in lines)
    return f"{heading}\n\n{RAW}\n{block}" + (f"\n\n{after}" if after else "")
