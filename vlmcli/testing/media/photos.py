"""Real photos for tests, from scikit-image's bundled data (no download).

Several sizes and aspect ratios, including crops that are portrait and very wide, so that
tiling, resizing and padding code meets the shapes it will meet in real use.
"""

import numpy as np
from PIL import Image
from skimage import data


def _rgb(array: np.ndarray) -> Image.Image:
    return Image.fromarray(array).convert("RGB")


def sample_photos() -> list[Image.Image]:
    """Return six RGB photos: square, landscape, portrait crop and very wide crop.

    astronaut 512x512, coffee 600x400, chelsea 451x300, rocket 427x640 (portrait),
    a 240x480 portrait crop of coffee, and a 640x120 very wide strip of rocket (W x H).
    """
    coffee = data.coffee()  # (400, 600, 3) uint8
    rocket = data.rocket()  # (427, 640, 3) uint8
    return [
        _rgb(data.astronaut()),  # 512x512
        _rgb(coffee),  # 600x400 landscape
        _rgb(data.chelsea()),  # 451x300 landscape
        _rgb(np.ascontiguousarray(np.transpose(rocket, (1, 0, 2))[::-1])),  # 427x640 portrait (rotated)
        _rgb(coffee[:, 100:340]),  # 240x400 portrait crop
        _rgb(rocket[150:270]),  # 640x120 very wide strip
    ]
