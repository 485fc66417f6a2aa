"""The `vlm` command: a Typer app that only wires commands together.

Each command lives in its own module under `vlmcli.commands` and exposes
`register(app)`. Nothing imported here may pull in torch, transformers or numpy:
`vlm --help` must stay instant (tests check `sys.modules`).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from vlmcli import __version__
from vlmcli.commands import ask, caption_dir, config_cmd, describe, export, models, report, video_summarize
from vlmcli.commands._help_format import HelpContext


class _Command(TyperCommand):
    context_class = HelpContext  # help lines break at spaces only; example blocks kept whole


class _Group(TyperGroup):
    context_class = HelpContext

    def main(self, args=None, *rest, **kwargs):  # type: ignore[no-untyped-def]
        self._argv = list(args) if args is not None else sys.argv[1:]
        return super().main(args, *rest, **kwargs)

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except Exception as exc:  # Click's NoSuchOption (Typer vendors its own Click: matched by name)
            if type(exc).__name__ == "NoSuchOption":  # `vlm ask -1.jpg`: say how to pass such a file
                from vlmcli.commands._usage import dash_file_hint

                exc.message += dash_file_hint(getattr(self, "_argv", [])) or ""  # type: ignore[attr-defined]
            _one_line(exc)
            raise
        except KeyboardInterrupt:  # before a command's own boundary (parsing its options): as it says, not "Aborted!"
            from vlmcli.commands._errors import EXIT_INTERRUPTED
            from vlmcli.interrupts import settle

            settle()
            sys.stderr.write("Interrupted.\n")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    def resolve_command(self, ctx, args):  # type: ignore[no-untyped-def]
        name, command, rest = super().resolve_command(ctx, args)
        if name in SIGTERM_AS_CTRL_C:  # from here on, not only once the command's own block is entered
            from vlmcli.interrupts import sigterm_as_ctrl_c

            sigterm_as_ctrl_c()
        return name, command, rest

    def make_context(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:  # the group's own arguments (`vlm --bogus`)
            return super().make_context(*args, **kwargs)
        except Exception as exc:
            _one_line(exc)
            raise

    def get_help_option(self, ctx):  # type: ignore[no-untyped-def]
        # Typer coerces every option it sees, through pydantic (~0.1-0.3 s to import),
        # except plain bools. The group's own --help is unset (None) during `vlm ask --help`;
        # giving it a bool default keeps subcommand help instant.
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option


SIGTERM_AS_CTRL_C = frozenset({"ask", "describe", "caption-dir", "video-summarize"})
"""The commands that take SIGTERM (a CI timeout, a job scheduler) as Ctrl-C: exit 130, not 143."""


def _one_line(exc: BaseException) -> None:
    """Make a usage error print as every other failure does: one `Error:` line on stderr
    (Click prints the usage synopsis and a blank line first), naming where help is. A bare
    command (`vlm ask`) still shows its help, as `no_args_is_help` asks."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "UsageError" not in names or "NoArgsIsHelpError" in names:
        return
    ctx = getattr(exc, "ctx", None)
    where = f" ({ctx.command_path} -h lists the options)" if ctx is not None else ""

    def show(file=None) -> None:  # type: ignore[no-untyped-def]
        message = exc.format_message().rstrip(".").replace("Value error, ", "")  # type: ignore[attr-defined]  # pydantic's wording, through Typer
        hint = where if message.startswith("No such option") and "(" not in message else ""
        end = "" if (message + hint).endswith(("?", "!")) else "."
        (file or sys.stderr).write(f"Error: {message}{hint}{end}\n")

    exc.show = show  # type: ignore[attr-defined]


app = typer.Typer(
    cls=_Group,
    name="vlm",
    help="Run Hugging Face vision-language models on your images, in-process.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: no rich import, so `vlm --help` stays fast and pipes cleanly
    pretty_exceptions_enable=False,  # errors are reported by commands._errors, one line each
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Registration points, in help order. New commands (caption-dir, video-summarize)
# add their module here.
COMMANDS = (ask, describe, caption_dir, video_summarize, export, report, models, config_cmd)
for _command in COMMANDS:
    _command.register(app)
for _info in app.registered_commands:  # one help layout for every command (`_help_format`)
    if _info.cls in (None, TyperCommand):  # Typer's default, as `app.command()` names it
        _info.cls = _Command


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vlm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[  # a plain bool: Typer then skips its (pydantic) coercion, keeping --help fast
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Run Hugging Face vision-language models on your images, in-process."""


def main() -> None:
    """The `vlm` process (console script, `python -m vlmcli`): once the command's exit status
    is decided, the process ends without the interpreter's teardown of torch and friends
    (~2-4 s after the last line: `process_exit`). Tests call `app` in-process instead."""
    from vlmcli.commands._errors import configure_streams, run_outside_commands
    from vlmcli.interrupts import own_process_signals, settle

    own_process_signals()  # this process's Ctrl-C and SIGTERM: `vlmcli.interrupts` keeps them
    try:
        configure_streams()
        run_outside_commands(lambda: app(prog_name="vlm"))
    except SystemExit as done:
        code: object = done.code
    else:
        code = None
    finally:  # the exit status is decided: a signal during shutdown changes nothing
        settle()
    from vlmcli.process_exit import exit_process

    exit_process(code)
