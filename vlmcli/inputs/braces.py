"""Brace expansion for shard lists, as WebDataset and img2dataset write them. Pure.

    expand_braces("shards/{00000..00002}.tar") -> ["shards/00000.tar", "shards/00001.tar", "shards/00002.tar"]
    expand_braces("{train,val}-{0..1}.parquet") -> ["train-0.parquet", "train-1.parquet", "val-0.parquet", "val-1.parquet"]

A numeric range keeps the width of its first bound when that has leading zeros. Text
without braces comes back as it is.
"""

from __future__ import annotations

import re

from vlmcli.errors import ConfigError

_GROUP = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")
MAX_EXPANSION = 1_000_000


def _alternatives(body: str) -> list[str]:
    match = _RANGE.match(body)
    if match:
        first, last = match.groups()
        start, stop = int(first), int(last)
        width = len(first) if first.lstrip("-").startswith("0") and len(first) > 1 else 0
        step = 1 if stop >= start else -1
        return [str(n).zfill(width) for n in range(start, stop + step, step)]
    if "," in body:
        return body.split(",")
    return ["{" + body + "}"]  # not a brace group: literal text


def expand_braces(text: str) -> list[str]:
    match = _GROUP.search(text)
    if match is None:
        return [text]
    head, tail = text[: match.start()], text[match.end() :]
    choices = _alternatives(match.group(1))
    if choices == ["{" + match.group(1) + "}"]:
        return [head + choices[0] + rest for rest in expand_braces(tail)]
    out: list[str] = []
    for choice in choices:
        out.extend(expand_braces(head + choice + tail))
        if len(out) > MAX_EXPANSION:
            raise ConfigError(f"{text!r} expands to more than {MAX_EXPANSION:,} names.")
    return out
