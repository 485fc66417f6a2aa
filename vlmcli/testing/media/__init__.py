"""Media the tests and field checks write themselves: synthetic clips with known cuts,
codec/container variants, cut-heavy shot sequences and a corpus of broken inputs.

`sample_photos()` gives real photos from scikit-image. Needs the test extra
(imageio-ffmpeg, scikit-image); nothing in the CLI imports it.
"""

from vlmcli.testing.media.photos import sample_photos

__all__ = ["sample_photos"]
