"""A tar shard's members gathered into WebDataset keys: which members count, how a key's
members are found, what a member's bytes are, and where a damaged shard stops.

    counted     regular files; hard links (`tar cf` stores a file's second name as a link to
                the first: its bytes are the target's); symbolic links to a member of the
                archive (followed; to anything else, the field's problem: its key's error
                row). Not folders or devices, nor macOS's debris (`archive_names`).
    grouped     a member `dir/abc.seg.png` is field `seg.png` of key `dir/abc` (everything
                before the first dot of the base name). An uncompressed tar is read by key
                through its member index, so a key stays one item wherever its members are
                (`tar cf` lists a folder in directory order: a.jpg, b.jpg, a.txt, b.txt); a
                compressed one is read as a stream of consecutive members (its scattered
                keys come twice: `tar_items` makes the second an error row that says why; a
                key read picture by picture, `tar_fields`, is not grouped at all). Each group
                knows its key's member names across the whole shard (`shard_names`), from the
                listing every readable shard gets first.
    repeated    a member name stored twice (`tar -r` appended a second `k1.jpg`; GNU tar
                given a name twice) is read as `tar -x` reads it: the last copy wins, the
                earlier ones are not read, and the key's group says so (`copies`). A
                compressed tar is listed first (one more pass) to know: one with a repeated
                name is then read by key like an uncompressed one.
    truncated   the keys read whole are yielded, then an InputError names the member where
                the shard stops; a key cut inside one of its members is not yielded.
    compressed  gzip, bzip2 and xz, told by their first bytes; zstd where this Python's
                tarfile reads it (3.14), else an InputError saying how to unpack it.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vlmcli.errors import InputError
from vlmcli.inputs.archive_names import is_debris
from vlmcli.inputs.tar_fields import split_member

COMPRESSIONS = ((b"\x1f\x8b", "gz"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zst"))
"""First bytes -> tarfile's name for the compression."""


def compression(path: Path) -> str:
    """"" for a plain tar, else "gz", "bz2", "xz" or "zst" (by the first bytes)."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    return next((name for magic, name in COMPRESSIONS if head.startswith(magic)), "")


def open_tar(path: Path) -> tarfile.TarFile:
    """The tar at `path` for random access, in its own compression (an InputError when this
    Python cannot decompress it, or it cannot be opened)."""
    try:
        kind = compression(path)
        if kind not in ("", *tarfile.TarFile.OPEN_METH):
            raise InputError(
                f"{path}: a zstd-compressed tar, which this Python's tarfile cannot read (Python 3.14's can); "
                f"unpack it first: zstd -d {path.name} (then caption the .tar)."
            )
        return tarfile.open(path, f"r:{kind}")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{path}: the tar shard is damaged or truncated ({type(exc).__name__}: {exc}).") from None


def is_counted(member: tarfile.TarInfo) -> bool:
    """A member that is part of the dataset: a file or a link, not macOS's debris."""
    return (member.isfile() or member.islnk() or member.issym()) and not is_debris(member.name)


def stored_copies(names: Sequence[str]) -> dict[str, int]:
    """The member names stored more than once -> how many times. Pure."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return {name: count for name, count in counts.items() if count > 1}


def reads_by_key(names: Sequence[str] | None, *, compressed: bool) -> bool:
    """Whether a shard whose counted member names are `names` (None: it could not be listed
    to the end) is read by key through its index, rather than as a stream of members: an
    uncompressed one that can be listed, and a compressed one that stores a name twice (its
    last copy must be found before its key is read)."""
    return names is not None and (not compressed or bool(stored_copies(names)))


def group_members(names: Sequence[str], *, by_key: bool) -> list[list[int]]:
    """Indices of `names` gathered into keys, in order of first appearance. `by_key`: a key's
    members wherever they are (an index), each name's last copy only (`tar -x`: the last one
    extracted wins). Else runs of consecutive members (a stream), where a member name its
    group already holds starts the key's next copy (a damaged stream cannot be listed to
    know which copy is the last). Pure."""
    if by_key:
        last = {name: index for index, name in enumerate(names)}
        keyed: dict[str, list[int]] = {}
        for index, name in enumerate(names):
            indices = keyed.setdefault(split_member(name)[0], [])
            if last[name] == index:
                indices.append(index)
        return list(keyed.values())
    groups: list[list[int]] = []
    held: list[set[str]] = []
    last_key: str | None = None
    for index, name in enumerate(names):
        key = split_member(name)[0]
        if not groups or key != last_key or name in held[-1]:
            groups.append([])
            held.append(set())
        groups[-1].append(index)
        held[-1].add(name)
        last_key = key
    return groups


def key_names(names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each key's distinct member names, in order of first appearance. Pure."""
    keyed: dict[str, dict[str, None]] = {}
    for name in names:
        keyed.setdefault(split_member(name)[0], {})[name] = None
    return {key: tuple(found) for key, found in keyed.items()}


@dataclass
class Member:
    """One member of a key: its name as stored, its field (the lower-cased suffix), and its
    bytes (a link's: its target's) or why it has none (a link out of the archive)."""

    name: str
    field: str
    data: bytes | None = None
    problem: str | None = None


@dataclass
class KeyGroup:
    """One copy of a key: its members, in the shard's order."""

    key: str
    members: list[Member] = field(default_factory=list)
    repeats: str | None = None
    """A stream that could not be listed: the member whose second copy started this group; None for a key's first."""
    copies: dict[str, int] = field(default_factory=dict)
    """Read by key: its members stored more than once -> how many times (the last copy is read)."""
    shard_names: tuple[str, ...] | None = None
    """The key's member names across the shard (its listing); None: this group's own (a stream
    that could not be listed)."""

    @property
    def fields(self) -> dict[str, bytes]:
        """field -> bytes, the first member of each field that has bytes."""
        found: dict[str, bytes] = {}
        for member in self.members:
            if member.data is not None:
                found.setdefault(member.field, member.data)
        return found

    @property
    def problems(self) -> dict[str, str]:
        """field -> the error row's message (a symbolic link out of the archive)."""
        found: dict[str, str] = {}
        for member in self.members:
            if member.problem is not None:
                found.setdefault(member.field, member.problem)
        return found

    def names(self) -> list[str]:
        """The fields, those with bytes first."""
        return list(dict.fromkeys([*self.fields, *self.problems]))

    def ordered(self) -> list[Member]:
        """The members, those with bytes first (a link out of the archive is chosen last)."""
        return [m for m in self.members if m.data is not None] + [m for m in self.members if m.data is None]

    def all_names(self) -> tuple[str, ...]:
        """The key's member names across the shard, where known; else this group's."""
        return self.shard_names if self.shard_names is not None else tuple(m.name for m in self.members)


def member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo, shard: Path) -> bytes | str:
    """The member's bytes (a link's: its target's), or why it has none. A truncated archive
    raises (tarfile.ReadError, EOFError)."""
    link = f"{shard}::{member.name} is a {'symbolic' if member.issym() else 'hard'} link to {member.linkname}"
    try:
        handle = tar.extractfile(member)
    except KeyError:
        return f"{link}, which is not in the archive (`tar -h` stores the files links point to)."
    except RecursionError:
        return f"{link}, in a loop of links."
    return handle.read() if handle is not None else f"{link}, which is not a file."


def key_groups(path: Path) -> Iterator[KeyGroup]:
    """The shard's keys in its order (see the module docstring)."""
    compressed = compression(path) != ""
    with open_tar(path) as tar:
        members = _index(tar)
        if reads_by_key(None if members is None else [m.name for m in members], compressed=compressed):
            yield from _indexed(tar, members or [], path)
            return
    listed = None if members is None else key_names([m.name for m in members])
    with open_tar(path) as tar:
        yield from _streamed(tar, path, listed)


def _index(tar: tarfile.TarFile) -> list[tarfile.TarInfo] | None:
    """The counted members of the tar (headers only: a plain tar's data is skipped, a
    compressed one's decompressed and dropped); None when it cannot be listed to the end
    (damaged: the stream reads what it can and says where it stopped)."""
    try:
        return [member for member in tar.getmembers() if is_counted(member)]
    except (tarfile.TarError, OSError, EOFError):
        return None


def _indexed(tar: tarfile.TarFile, members: list[tarfile.TarInfo], path: Path) -> Iterator[KeyGroup]:
    names = [member.name for member in members]
    copies = stored_copies(names)
    for indices in group_members(names, by_key=True):
        key = split_member(names[indices[0]])[0]
        group = KeyGroup(key, copies={names[i]: copies[names[i]] for i in indices if names[i] in copies})
        group.shard_names = tuple(names[i] for i in indices)
        for index in indices:
            try:
                _add(group, members[index], member_bytes(tar, members[index], path))
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise _damaged(path, exc, inside=members[index]) from None
        yield group


def _streamed(tar: tarfile.TarFile, path: Path, listed: dict[str, tuple[str, ...]] | None) -> Iterator[KeyGroup]:
    group: KeyGroup | None = None
    reading: tarfile.TarInfo | None = None  # the member whose bytes are being read
    names: set[str] = set()  # the members read (tarfile keeps their headers anyway)
    try:
        for member in tar:
            if not is_counted(member):
                continue
            key = split_member(member.name)[0]
            if group is None or key != group.key or any(m.name == member.name for m in group.members):
                if group is not None:
                    yield group
                repeated = member.name in names or (group is not None and key == group.key)
                shard_names = None if listed is None else listed.get(key)
                group = KeyGroup(key, repeats=member.name if repeated else None, shard_names=shard_names)
            names.add(member.name)
            reading = member
            _add(group, member, member_bytes(tar, member, path))
            reading = None
    except (tarfile.TarError, OSError, EOFError) as exc:
        if group is not None and reading is None:  # cut between members: the last key's were read whole
            yield group
        raise _damaged(path, exc, inside=reading) from None
    if group is not None:
        yield group


def _add(group: KeyGroup, member: tarfile.TarInfo, data: bytes | str) -> None:
    suffix = split_member(member.name)[1]
    if isinstance(data, bytes):
        group.members.append(Member(member.name, suffix, data=data))
    else:
        group.members.append(Member(member.name, suffix, problem=data))


def _damaged(path: Path, exc: BaseException, *, inside: tarfile.TarInfo | None) -> InputError:
    where = f" inside {inside.name}, whose key is left out" if inside is not None else ""
    return InputError(f"{path}: the tar shard is damaged or truncated{where} ({type(exc).__name__}: {exc}).")
