"""Visual-token reduction: fewer visual tokens before the language model, for clips and images.

One concept per module, in the order the engine applies them:

    temporal.py   --temporal-pool: which frames (or temporal patches) are averaged into one
    compress.py   --compress: parse the spec; one compressor per method, from a registry
    pooling.py    averaging: adjacent frames, near-duplicate runs, k x k patches (torch)
    perceiver.py  parameter-free Perceiver resampling, N tokens -> M (torch)
    resampler.py  the learned Perceiver resampler, loaded from --resampler-weights (torch)
    reducer.py    `TokenReduction` (the flags), `TokenLayout` (one item's encoder tokens) and
                  the `Reducer` the engine's adapters count and apply them with

Layering: this package imports only `vlmcli.errors` (and torch/safetensors lazily). The
engine imports it (its config holds a `TokenReduction`, its adapters describe each item's
tokens as a `TokenLayout`); nothing here imports `vlmcli.engine` or `vlmcli.video`, so
images and clips share one reduction path. Importing this package is cheap: parsing the
flags and counting tokens load no torch.
"""
