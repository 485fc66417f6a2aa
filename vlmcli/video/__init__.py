"""Video input: sparse decoding, frame sampling, and visual-token reduction.

Submodules import torch and decord lazily, so importing this package is cheap.
"""
