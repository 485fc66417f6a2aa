"""Reading user inputs: bytes from a path or stdin, what kind of medium they hold, and
safe image decoding. Nothing here knows about the CLI; errors are `InputError`s."""

from vlmcli.media.images import DEFAULT_MAX_PIXELS, decode_image, image_input, load_image
from vlmcli.media.kinds import MediaKind, detect_kind
from vlmcli.media.sources import STDIN, read_source

__all__ = ["DEFAULT_MAX_PIXELS", "STDIN", "MediaKind", "decode_image", "image_input", "detect_kind", "load_image", "read_source"]
