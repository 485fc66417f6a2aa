"""Which names in an archive (a tar or a zip) are the dataset's, and which are what a tool
added on the side. Pure.

macOS's tar and Archive Utility add an AppleDouble file (`._photo.jpg`: the resource fork
and extended attributes of `photo.jpg`) beside each file, `.DS_Store` files, and, in zips, a
`__MACOSX/` folder of them. Read as members they gave keys like `./` and an error row
"is not an image" on every run. Base names starting with a dot are skipped (as a folder's
hidden files are when it is walked), and so is everything under a `__MACOSX` folder.
"""

from __future__ import annotations

MACOS_FOLDER = "__MACOSX"


def is_debris(name: str) -> bool:
    """True for `._photo.jpg`, `dir/.DS_Store`, `__MACOSX/dir/x.jpg`; False for `./photo.jpg`."""
    parts = [part for part in name.split("/") if part not in ("", ".", "..")]
    if not parts:
        return True  # `./` itself: a folder, no file
    return parts[-1].startswith(".") or MACOS_FOLDER in parts[:-1]
