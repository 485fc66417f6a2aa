"""Vision features for a batch of requests, through the feature cache.

All images the cache does not hold are encoded in one vision-tower call (the same batch
transformers would build), then stored per image; cached images skip the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmcli.engine.adapters.base import Adapter, PreparedRequest
from vlmcli.engine.cache import FeatureCache, Features, feature_key


@dataclass
class VisionOutput:
    features: list[Features]
    """Per image, in request order then image order."""
    hits: list[int]
    """Cache hits per request."""
    encoder_calls: int


def encode_batch(adapter: Adapter, requests: list[PreparedRequest], cache: FeatureCache) -> VisionOutput:
    images = [im for r in requests for im in r.images]
    keys = [
        feature_key(image_key=f"{im.source.key}:{im.variant}", fingerprint=adapter.fingerprint) for im in images
    ]
    found: list[Features | None] = [cache.get(k) for k in keys]
    hits: list[int] = []
    cursor = 0
    for r in requests:
        hits.append(sum(found[cursor + i] is not None for i in range(len(r.images))))
        cursor += len(r.images)
    missing = [i for i, f in enumerate(found) if f is None]
    calls = 0
    if missing:
        # encode each distinct image once even if it repeats within the batch
        first: dict[str, int] = {}
        unique = [i for i in missing if first.setdefault(keys[i], i) == i]
        encoded = adapter.encode([images[i] for i in unique])
        calls = 1
        for i, feats in zip(unique, encoded):
            cache.put(keys[i], feats)
            found[i] = feats
        for i in missing:
            if found[i] is None:
                found[i] = found[first[keys[i]]]
    return VisionOutput(features=[f for f in found if f is not None], hits=hits, encoder_calls=calls)
