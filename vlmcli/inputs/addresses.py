"""An INPUT that names no file here because it is an address: what to say instead of "not found".

    file:///photos/My%20Cat.jpg   copied from a browser's address bar: the local path it names
    https://example.com/cat.jpg   vlmcli reads local files and does not download

`address_hint` gives the sentence that follows a command's own "No such file: X" (empty for
a plain path), so every command explains an address the same way; `STDIN_VIDEO` is what the
commands that read videos say of `-`.
"""

from __future__ import annotations

import re

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
"""http://, https://, s3://, gs://, hf://: a location to download from, which is not a file here."""

STDIN_VIDEO = "A video cannot be read from standard input ('-'); pass the file's path."


def address_hint(raw: str, *, fetch: str, stdin: bool = False) -> str:
    """The explanation appended to "No such file: `raw`" when `raw` is a `file://` address (the
    path to pass instead) or a URL (vlmcli does not download: `fetch` says what to do); "" for
    anything else. `stdin`: the command also reads `-`, and says so."""
    if raw.lower().startswith("file://"):
        import shlex
        from urllib.parse import unquote, urlsplit

        return f". A file:// address names a local file: pass its path, {shlex.quote(unquote(urlsplit(raw).path))}"
    if URL.match(raw):
        also = " (and - for stdin)" if stdin else ""
        return f". vlmcli reads local files{also}, it does not download: {fetch}"
    return ""
