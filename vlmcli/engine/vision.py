"""Vision features for a batch of requests, through the feature cache, then reduced.

All images the cache does not hold are encoded together (the same batch transformers would
build; on CPU, families that cut fixed-size tiles take them `adapter.tiles_per_call` at a
time), then stored per image; clips likewise. Cached items skip the encoder. The cache
holds the encoder's own output; temporal pooling and compression (`adapter.reducer`) are
applied afterwards, so they never invalidate it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vlmcli.engine.adapters.base import Adapter, PreparedImage, PreparedRequest, PreparedVideo
from vlmcli.engine.cache import FeatureCache, Features, feature_key


@dataclass
class VisionOutput:
    features: list[Features]
    """Reduced features per item, in prompt order: request by request, images then videos."""
    hits: list[int]
    """Cache hits per request."""
    encoder_calls: int


def _cached(
    items: Sequence[Any], keys: list[str], cache: FeatureCache, encode: Callable[[list[Any]], list[Features]]
) -> tuple[list[Features], list[bool], int]:
    """Features of `items` from the cache, encoding the missing ones (each distinct key once)."""
    found: list[Features | None] = [cache.get(k) for k in keys]
    hit = [f is not None for f in found]
    missing = [i for i, f in enumerate(found) if f is None]
    if not missing:
        return [f for f in found if f is not None], hit, 0
    first: dict[str, int] = {}
    unique = [i for i in missing if first.setdefault(keys[i], i) == i]
    for i, feats in zip(unique, encode([items[i] for i in unique])):
        cache.put(keys[i], feats)
        found[i] = feats
    for i in missing:
        if found[i] is None:
            found[i] = found[first[keys[i]]]
    return [f for f in found if f is not None], hit, 1


def encode_batch(adapter: Adapter, requests: list[PreparedRequest], cache: FeatureCache) -> VisionOutput:
    images: list[PreparedImage] = [im for r in requests for im in r.images]
    videos: list[PreparedVideo] = [v for r in requests for v in r.videos]
    fingerprint = adapter.fingerprint
    image_keys = [feature_key(image_key=f"{im.source.key}:{im.variant}", fingerprint=fingerprint) for im in images]
    video_keys = [feature_key(image_key=f"video:{v.source.key}:{v.variant}", fingerprint=fingerprint) for v in videos]
    image_feats, image_hits, calls = _cached(images, image_keys, cache, adapter.encode)
    video_feats, video_hits, video_calls = _cached(videos, video_keys, cache, adapter.encode_videos)
    reduce = adapter.reducer.apply
    features, hits = [], []
    image_at = video_at = 0
    for r in requests:
        n, m = len(r.images), len(r.videos)
        for im, feats in zip(r.images, image_feats[image_at : image_at + n]):
            features.append(reduce(feats, im.layout) if im.layout is not None else feats)
        for v, feats in zip(r.videos, video_feats[video_at : video_at + m]):
            features.append(reduce(feats, v.layout))
        hits.append(sum(image_hits[image_at : image_at + n]) + sum(video_hits[video_at : video_at + m]))
        image_at, video_at = image_at + n, video_at + m
    return VisionOutput(features=features, hits=hits, encoder_calls=calls + video_calls)
