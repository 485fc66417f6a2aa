"""The string `format`s the grammar enforces, and the same check after generation.

xgrammar 0.2.9 turns these formats into regexes over the string's JSON text (between the quotes);
others it ignores silently, so `schema_support` refuses them. The regexes below are xgrammar's own
(cpp/json_schema_converter.cc, `JSONFormatToRegexPattern`), written in its regex dialect and read by
Python through `regex_dialect`, so the check after generation accepts exactly what the grammar
allowed. `matches` applies one to a string value's JSON text (`json.dumps` without ASCII escapes).
`uri` is therefore RFC 3986's shape as xgrammar writes it: a scheme (`https:`, `mailto:`, `urn:`),
then authority/path/query/fragment characters; a host is not required (`mailto:a@b.c` is a URI), a
blank or a bare `example.com` is not.

Two more kinds xgrammar does not know (it would ignore the format silently), which pydantic writes:
`AS_PATTERN` formats are sent to the grammar as that `pattern` (`base64url`: `bytes` with
`ser_json_bytes='base64'`), and `ANY_STRING` formats hold any string (`binary`: pydantic's `bytes`,
OpenAPI's octets), so the grammar is given a plain string and nothing is left to check.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

_ATEXT = "[\\w!#$%&'*+/=?^`{|}~-]"
_QUOTED = '\\\\"(\\\\[\\x20-\\x7E]|[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E])*\\\\"'
_DOMAIN = "([A-Za-z0-9]([\\-A-Za-z0-9]*[A-Za-z0-9])?)((\\.[A-Za-z0-9][\\-A-Za-z0-9]*[A-Za-z0-9])*)"
_DATE = "\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[1-2]\\d|3[01])"
_TIME = "([01]\\d|2[0-3]):[0-5]\\d:([0-5]\\d|60)(\\.\\d+)?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)"
_BYTE = "(25[0-5]|2[0-4]\\d|[0-1]?\\d?\\d)"
_H16 = "[0-9a-fA-F]{1,4}"
_V4 = "((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])"
_PCHAR = "([\\w\\.~!$&'()*+,;=:@-]|%[0-9A-Fa-f][0-9A-Fa-f])"
_QF = "([\\w\\.~!$&'()*+,;=:@/\\?-]|%[0-9A-Fa-f][0-9A-Fa-f])*"
_AUTHORITY = (
    "(([\\w\\.~!$&'()*+,;=:-]|%[0-9A-Fa-f][0-9A-Fa-f])*@)?([\\w\\.~!$&'()*+,;=-]|%[0-9A-Fa-f][0-9A-Fa-f])*(:\\d*)?"
)

FORMATS: dict[str, str] = {
    "date": f"^({_DATE})$",
    "time": f"^{_TIME}$",
    "date-time": f"^({_DATE})T{_TIME}$",
    "duration": (
        "^P((\\d+D|\\d+M(\\d+D)?|\\d+Y(\\d+M(\\d+D)?)?)(T(\\d+S|\\d+M(\\d+S)?|\\d+H(\\d+M(\\d+S)?)?))?"
        "|T(\\d+S|\\d+M(\\d+S)?|\\d+H(\\d+M(\\d+S)?)?)|\\d+W)$"
    ),
    "email": f"^(({_ATEXT}+(\\.{_ATEXT}+)*)|{_QUOTED})@{_DOMAIN}$",
    "ipv4": f"^({_BYTE}\\.){{3}}{_BYTE}$",
    "ipv6": (
        f"(({_H16}:){{7,7}}{_H16}|({_H16}:){{1,7}}:|({_H16}:){{1,6}}:{_H16}|({_H16}:){{1,5}}(:{_H16}){{1,2}}"
        f"|({_H16}:){{1,4}}(:{_H16}){{1,3}}|({_H16}:){{1,3}}(:{_H16}){{1,4}}|({_H16}:){{1,2}}(:{_H16}){{1,5}}"
        f"|{_H16}:((:{_H16}){{1,6}})|:((:{_H16}){{1,7}}|:)|::(ffff(:0{{1,4}}){{0,1}}:){{0,1}}{_V4}"
        f"|({_H16}:){{1,4}}:{_V4})"
    ),
    "uuid": "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
    "uri": (
        f"^[a-zA-Z][a-zA-Z+\\.-]*:(//{_AUTHORITY}(/{_PCHAR}*)*|/?({_PCHAR}+(/{_PCHAR}*)*)?)"
        f"(\\?{_QF})?(#{_QF})?$"
    ),
}
"""Format name -> xgrammar's regex (its dialect) for the JSON text of the string."""
AS_PATTERN: dict[str, str] = {"base64url": "^[A-Za-z0-9_-]*={0,2}$"}
"""Format name -> the `pattern` the grammar is given for it (the check after generation uses it too)."""
ANY_STRING = ("binary",)
"""Formats that any string satisfies."""


def matches(format_name: str, value: str) -> bool:
    """Whether the string `value` has the format (as the grammar spells it)."""
    if format_name in ANY_STRING:
        return True
    return _regex(format_name).fullmatch(json.dumps(value, ensure_ascii=False)[1:-1]) is not None


@lru_cache(maxsize=None)
def _regex(format_name: str) -> "re.Pattern[str]":
    from vlmcli.structured.regex_dialect import python_regex

    return python_regex(FORMATS.get(format_name) or AS_PATTERN[format_name])
