"""Decode one image file for the engine, returning failures as values (they become error rows)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlmcli.errors import InputError
from vlmcli.media.images import image_input
from vlmcli.media.sources import read_source

if TYPE_CHECKING:
    from vlmcli.engine.request import ImageInput


@dataclass(frozen=True)
class Decoded:
    image: "ImageInput | None"
    error: str | None = None


def decode(path: str, *, max_pixels: int | None) -> Decoded:
    """Read and decode `path` safely (pixel limit, EXIF rotation, RGB); never raises for a bad file."""
    try:
        return Decoded(image_input(read_source(path), path, max_pixels=max_pixels))
    except InputError as exc:
        return Decoded(None, str(exc))
    except MemoryError:
        return Decoded(None, f"{path}: out of memory while decoding; lower VLM_MAX_IMAGE_PIXELS.")
    except Exception as exc:  # noqa: BLE001 - a decoder bug on one file must not stop the run
        return Decoded(None, f"{path} cannot be decoded ({type(exc).__name__}: {exc}).")


def decode_all(paths: Sequence[str], decode_one: Callable[[str], Decoded], *, threads: int) -> dict[str, Decoded]:
    """Decode distinct `paths` in a small thread pool (Pillow and decord release the GIL)."""
    unique = list(dict.fromkeys(paths))
    if threads <= 1 or len(unique) <= 1:
        return {p: decode_one(p) for p in unique}
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vlm-decode") as pool:
        return dict(zip(unique, pool.map(decode_one, unique)))
