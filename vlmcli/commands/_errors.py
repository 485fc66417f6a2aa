"""The one seam where exceptions become a one-line message and an exit code.

    with error_boundary(debug=opts.debug):
        ...

- `VlmError`         -> "Error: <message>" on stderr, exit `err.exit_code` (see docs/exit-codes.md)
- KeyboardInterrupt  -> "Interrupted." on stderr, exit 130
- BrokenPipeError    -> quiet exit 141 (stdout closed early, e.g. `| head`)
- MemoryError        -> "Error: out of memory ..." exit 6
- anything else      -> "Error: unexpected <Type>: <message>" exit 1
With `debug` (or VLM_DEBUG=1) the traceback is printed first.
"""

from __future__ import annotations

import codecs
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from vlmcli.debug_log import debug_log
from vlmcli.errors import OutputError, ResourceError, VlmError
from vlmcli.output_files import is_write_failure

EXIT_UNEXPECTED = 1
EXIT_SOME_FAILED = 9
"""The run finished, but some items (inputs of `describe`, rows of `caption-dir`) failed."""
EXIT_NOT_VALID = 10
"""A constrained answer (--schema/--choice/--regex/--json-mode) does not satisfy its constraint: cut by
--max-tokens or failed the check after generation. The answer is still printed (docs/exit-codes.md)."""
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


def env_debug() -> bool:
    return os.environ.get("VLM_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


def one_line(text: str) -> str:
    """Collapse a message to one line (tracebacks and library messages can be multi-line)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def report(message: str) -> None:
    """Write `Error: message` to stderr as exactly one line, of text a terminal shows as it is:
    a control character (of a file name, a model name) as its escape, as `display_name` writes it."""
    from vlmcli.media.names import display_name

    sys.stderr.write(f"Error: {display_name(one_line(message))}\n")
    sys.stderr.flush()


@contextmanager
def error_boundary(*, debug: bool = False) -> Iterator[None]:
    debug = debug or env_debug()
    try:
        with debug_log(debug):  # library debug records (e.g. the video decoder chosen) on stderr
            yield
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except VlmError as err:
        _traceback(debug)
        report(str(err))
        raise typer.Exit(err.exit_code) from None
    except KeyboardInterrupt:
        from vlmcli.interrupts import settle

        settle()  # exit 130 is decided: a second Ctrl-C or SIGTERM (during shutdown) changes nothing
        _traceback(debug)
        sys.stderr.write("Interrupted.\n")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        _silence_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    except OSError as err:
        if not is_write_failure(err):
            _unexpected(err, debug)
        _traceback(debug)
        _silence_stdout()  # a full disk under stdout: the interpreter's final flush stays quiet
        where = f" {err.filename}" if err.filename else " the results"
        report(f"Cannot write{where}: {err.strerror or err}.")
        raise typer.Exit(OutputError.exit_code) from None
    except MemoryError:
        _traceback(debug)
        report("out of memory; try a smaller model, fewer or smaller images, or --max-tokens.")
        raise typer.Exit(ResourceError.exit_code) from None
    except Exception as err:  # noqa: BLE001 - the last line of defence
        _unexpected(err, debug)


def _unexpected(err: BaseException, debug: bool) -> NoReturn:
    _traceback(debug)
    hint = "" if debug else " (run with --debug for a traceback)"
    report(f"unexpected {type(err).__name__}: {err}{hint}")
    raise typer.Exit(EXIT_UNEXPECTED) from None


def run_outside_commands(run: Callable[[], None]) -> None:
    """`run` (the whole CLI) with what no command's boundary sees made one line, exit 8: a
    closed stdout (`vlm ... >&-`), help or version text written to a full disk."""
    if sys.stdout is None:
        sys.stderr.write("Error: standard output is closed; vlm writes its results there (redirect it to a file).\n")
        raise SystemExit(OutputError.exit_code)
    try:
        run()
    except OSError as err:
        if not is_write_failure(err):
            raise
        _silence_stdout()
        report(f"Cannot write the results: {err.strerror or err}.")
        raise SystemExit(OutputError.exit_code) from None


def configure_streams() -> None:
    """Let anything through to the terminal, like `ls` does, instead of crashing.

    File names that are not UTF-8 are held as lone surrogates: stdout writes them back as the
    original bytes, stderr as `\\xNN` escapes (diagnostics stay valid text). A stdout whose
    encoding cannot hold a caption's characters (a file redirect on Windows, cp1252; a
    latin-1 locale) writes those as `\\uXXXX` escapes instead of failing the run with
    UnicodeEncodeError; `--json` then escapes them the JSON way (`stdout_is_utf8`).
    """
    codecs.register_error(_STDOUT_ERRORS, _bytes_back_or_escaped)
    codecs.register_error(_STDERR_ERRORS, _bytes_escaped)
    for stream, errors in ((sys.stdout, _STDOUT_ERRORS), (sys.stderr, _STDERR_ERRORS)):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors=errors)
            except (ValueError, OSError):  # detached or closed: leave it
                pass


_STDOUT_ERRORS = "vlmcli-stdout"
_STDERR_ERRORS = "vlmcli-stderr"


def _bytes_back_or_escaped(error: UnicodeError) -> tuple[str | bytes, int]:
    """Encoding error handler: lone surrogates (undecodable bytes of a file name) become their
    bytes again, as `surrogateescape` does; any other character its backslash escape."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    chunk = error.object[error.start : error.end]
    if all(0xDC80 <= ord(c) <= 0xDCFF for c in chunk):
        return bytes(ord(c) - 0xDC00 for c in chunk), error.end
    return codecs.backslashreplace_errors(error)


def _bytes_escaped(error: UnicodeError) -> tuple[str | bytes, int]:
    """Encoding error handler for stderr: lone surrogates (undecodable bytes of a file name)
    as `\\xNN`, the spelling `display_name`, stdout's text and JSON use for that byte (not
    `\\udcNN`); any other character its backslash escape."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    chunk = error.object[error.start : error.end]
    if all(0xDC80 <= ord(c) <= 0xDCFF for c in chunk):
        return "".join(f"\\x{ord(c) - 0xDC00:02x}" for c in chunk), error.end
    return codecs.backslashreplace_errors(error)


def stdout_is_utf8() -> bool:
    """Whether stdout encodes every character (UTF-8); False for cp1252, latin-1, ascii, ..."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        return codecs.lookup(encoding).name in ("utf-8", "utf-16", "utf-32")
    except LookupError:
        return False


def _traceback(debug: bool) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at devnull so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests): nothing to do
        pass
