"""Decode one image file for the engine, returning failures as values (they become error rows)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlmcli.errors import VlmError
from vlmcli.media.images import image_input
from vlmcli.media.sources import read_source

if TYPE_CHECKING:
    from vlmcli.engine.video_input import VideoInput
    from vlmcli.media.image_input import ImageInput


@dataclass(frozen=True)
class Decoded:
    image: "ImageInput | VideoInput | None"
    """The decoded input (an `ImageInput`, or a `VideoInput` with --videos); None on error."""
    error: str | None = None


def decode(path: str, *, max_pixels: int | None, read: Callable[[str], bytes] = read_source) -> Decoded:
    """Read (`read`: a file by default, a dataset item's spooled bytes) and decode `path`
    safely (pixel limit, EXIF rotation, RGB); never raises for a bad file."""
    return as_decoded(
        lambda: image_input(read(path), path, max_pixels=max_pixels),
        path=path, what="", memory_hint="lower VLM_MAX_IMAGE_PIXELS",
    )


def as_decoded(load: Callable[[], Any], *, path: str, what: str, memory_hint: str) -> Decoded:
    """`Decoded(load())`, or the failure as an error value: a library error's own message,
    running out of memory (with `memory_hint`), or any decoder bug on this one file."""
    try:
        return Decoded(load())
    except VlmError as exc:
        return Decoded(None, str(exc))
    except MemoryError:
        return Decoded(None, f"{path}: out of memory while decoding{what}; {memory_hint}.")
    except Exception as exc:  # noqa: BLE001 - a decoder bug on one file must not stop the run
        return Decoded(None, f"{path} cannot be decoded{what} ({type(exc).__name__}: {exc}).")


def decode_all(paths: Sequence[str], decode_one: Callable[[str], Decoded], *, threads: int) -> dict[str, Decoded]:
    """Decode distinct `paths` in a small thread pool (Pillow and decord release the GIL)."""
    unique = list(dict.fromkeys(paths))
    if threads <= 1 or len(unique) <= 1:
        return {p: decode_one(p) for p in unique}
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vlm-decode") as pool:
        return dict(zip(unique, pool.map(decode_one, unique)))
