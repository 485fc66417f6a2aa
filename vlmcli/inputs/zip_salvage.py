"""A zip archive whose end is missing (a download cut short), read from its local headers.

A zip's index (the central directory) is at its end, so `zipfile` cannot open a truncated
one at all ("File is not a zip file") and none of its pictures were read. Each member is
also preceded by a local file header that names it and says how it is stored; walking those
from the start finds every member written whole before the cut:

    header  PK\\x03\\x04, flags, method, CRC-32, sizes, name, extra field (zip64 sizes)
    data    stored or deflated; when the writer streamed it (flag bit 3: Google Drive's and
            macOS's zips) the sizes follow the data in a data descriptor, and a deflated
            member's end is found by inflating it (deflate marks its own end)
    stop    at the cut (the member it falls in is left out), at the index (then only the
            index's own end was damaged), at a member whose end cannot be found (stored or
            encrypted with a data descriptor), or at bytes that are no header

Each member comes as (name, bytes, problem): an encrypted one, another compression method
(bzip2, LZMA) or a CRC mismatch is a problem, its item's error. The walk always ends in an
InputError saying why the archive is a damaged shard (exit 9), after the members it read.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vlmcli.errors import InputError

LOCAL = b"PK\x03\x04"
INDEX = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07")
"""Signatures of the central directory and its end records."""
DESCRIPTOR = b"PK\x07\x08"
_HEADER = struct.Struct("<4sHHHHHIIIHH")  # signature, version, flags, method, time, date, crc, sizes, name and extra lengths
_ZIP64 = 0xFFFFFFFF
_ENCRYPTED, _STREAMED, _UTF8 = 0x1, 0x8, 0x800
STORED, DEFLATED = 0, 8
CHUNK = 1 << 20


@dataclass(frozen=True)
class Salvaged:
    name: str
    data: bytes | None
    problem: str | None = None
    """Why the member has no bytes (encrypted, a method this reader lacks, damaged)."""


class _Cut(Exception):
    """The file ends inside this member."""


class _Lost(Exception):
    """The member's end cannot be found without the index."""


def salvage(path: Path, why: BaseException) -> Iterator[Salvaged]:
    """The members of the zip at `path` that `zipfile` could not open (`why`), in order; then
    an InputError that says where and why the archive stops."""
    with open(path, "rb") as handle:
        if handle.read(4) != LOCAL:
            raise InputError(f"{path}: not a readable zip archive (damaged: {why}).")
        handle.seek(0)
        read, name = 0, "a member's header"
        try:
            while (head := handle.read(_HEADER.size))[:4] == LOCAL:
                name = "a member's header"
                header = _header(handle, head)
                name = header.name
                yield _member(handle, header)
                read += 1
        except _Cut:
            raise InputError(
                f"{path}: not a readable zip archive to its end: truncated (no central directory at its end); "
                f"{_count(read)} read from their local headers, then it stops inside {name}; download it again for the rest."
            ) from None
        except _Lost:
            raise InputError(
                f"{path}: the zip archive has no readable central directory ({why}) and {name} was written "
                f"without its size, so nothing after it can be found; {_count(read)} read before it."
            ) from None
    if head[:4] in INDEX:
        raise InputError(
            f"{path}: the zip archive's index at its end is cut off or damaged ({why}); all {_count(read)} "
            "were read from their local headers."
        )
    if len(head) < 4:
        raise InputError(
            f"{path}: not a readable zip archive to its end: truncated (no central directory at its end); "
            f"{_count(read)} read from their local headers, then it ends; download it again for the rest."
        )
    raise InputError(
        f"{path}: the zip archive is damaged: {_count(read)} read from their local headers, then bytes that are no zip header."
    )


def _count(members: int) -> str:
    return f"{members} member{'' if members == 1 else 's'}"


@dataclass(frozen=True)
class _Header:
    name: str
    flags: int
    method: int
    crc: int
    size: int
    """Compressed size; 0 when the writer streamed the member (flag bit 3)."""


def _header(handle: BinaryIO, head: bytes) -> _Header:
    if len(head) < _HEADER.size:
        raise _Cut
    _, _, flags, method, _, _, crc, size, _, name_length, extra_length = _HEADER.unpack(head)
    raw = _exactly(handle, name_length + extra_length)
    name = raw[:name_length].decode("utf-8" if flags & _UTF8 else "cp437", "replace")
    if size == _ZIP64:
        size = _zip64_size(raw[name_length:], size)
    return _Header(name, flags, method, crc, size)


def _member(handle: BinaryIO, header: _Header) -> Salvaged:
    """The member's bytes or problem; `handle` is left at the next header."""
    name, crc = header.name, header.crc
    try:
        if header.flags & _STREAMED:
            if header.flags & _ENCRYPTED or header.method != DEFLATED:
                raise _Lost
            data, crc = _inflate_streamed(handle)
        else:
            stored = _exactly(handle, header.size)
            if header.flags & _ENCRYPTED:
                return Salvaged(name, None, "it is encrypted (password-protected)")
            if header.method not in (STORED, DEFLATED):
                return Salvaged(name, None, f"it is compressed with method {header.method}, which needs the archive's index")
            data = stored if header.method == STORED else zlib.decompress(stored, -15)
    except zlib.error as exc:
        if header.flags & _STREAMED:
            raise _Lost from None  # where its bytes end is lost with them
        return Salvaged(name, None, f"it is damaged in the archive ({exc})")
    if zlib.crc32(data) != crc:
        return Salvaged(name, None, "it is damaged in the archive (its CRC-32 does not match)")
    return Salvaged(name, data)


def _exactly(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if len(data) < size:
        raise _Cut
    return data


def _zip64_size(extra: bytes, size: int) -> int:
    """The compressed size from a zip64 extra field (id 1: uncompressed size, then compressed)."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        if kind == 1 and length >= 16:
            return int(struct.unpack_from("<Q", extra, at + 12)[0])
        at += 4 + length
    return size


def _inflate_streamed(handle: BinaryIO) -> tuple[bytes, int]:
    """A streamed member's inflated bytes and its CRC-32 from the data descriptor after it;
    `handle` is left at the next header."""
    inflater, parts = zlib.decompressobj(-15), []
    while not inflater.eof:
        chunk = handle.read(CHUNK)
        if not chunk:
            raise _Cut
        parts.append(inflater.decompress(chunk))
    handle.seek(-len(inflater.unused_data), 1)
    first = _exactly(handle, 4)
    crc = struct.unpack("<I", _exactly(handle, 4) if first == DESCRIPTOR else first)[0]
    _exactly(handle, 8)  # the sizes, 4 bytes each
    peek = handle.read(2)
    if len(peek) == 2 and peek != b"PK":
        handle.read(6)  # zip64's sizes are 8 bytes each
    else:
        handle.seek(-len(peek), 1)
    return b"".join(parts), int(crc)
