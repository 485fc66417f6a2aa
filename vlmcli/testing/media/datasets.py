"""Small datasets in the layouts bulk-captioning users have, written the way their tools
write them: img2dataset-style WebDataset tars (`key.jpg`, `key.txt`, `key.json` per key)
and Parquet shards (`key`, `jpg` bytes, `caption`, `url`, `status`), a Hugging Face
`Image` Parquet and a `save_to_disk` folder (written by `datasets` itself), and img2dataset's
default `files` layout (pictures in folders, metadata Parquet beside them); and
video2dataset's tars of clips (`write_video_webdataset`).

Each builder takes photos (PIL images) and writes JPEG bytes, with one broken item per
shard where `broken=True` (bytes that are not an image), and returns the shard paths.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BROKEN = b"\xff\xd8\xff\xe0 not really a jpeg"


def jpeg_bytes(image: Any, *, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _records(photos: Sequence[Any], *, broken: bool, shard: int, shard_size: int) -> list[dict[str, Any]]:
    records = []
    for i, photo in enumerate(photos):
        key = f"{shard:05d}{i:04d}"
        records.append({"key": key, "jpg": jpeg_bytes(photo), "caption": f"alt text {key}", "url": f"https://example.com/{key}.jpg"})
    if broken:
        records[len(records) // 2]["jpg"] = BROKEN
    return records[:shard_size]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_webdataset(
    folder: Path, photos: Sequence[Any], *, shards: int = 2, broken: bool = True, gz: bool = False
) -> list[Path]:
    """img2dataset's webdataset layout: `folder/00000.tar`, ... plus `00000_stats.json` and a
    metadata `00000.parquet` (no images) beside each tar."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(shards):
        records = _records(photos, broken=broken, shard=shard, shard_size=len(photos))
        path = folder / (f"{shard:05d}.tar.gz" if gz else f"{shard:05d}.tar")
        with tarfile.open(path, "w:gz" if gz else "w") as tar:
            for r in records:
                _add(tar, f"{r['key']}.jpg", r["jpg"])
                _add(tar, f"{r['key']}.txt", r["caption"].encode())
                meta = {"key": r["key"], "url": r["url"], "caption": r["caption"], "status": "success"}
                _add(tar, f"{r['key']}.json", json.dumps(meta).encode())
        (folder / f"{shard:05d}_stats.json").write_text(json.dumps({"count": len(records)}))
        meta_rows = [{"key": r["key"], "url": r["url"], "caption": r["caption"]} for r in records]
        pq.write_table(pa.Table.from_pylist(meta_rows), folder / f"{shard:05d}.parquet")
        paths.append(path)
    return paths


def write_parquet_shards(folder: Path, photos: Sequence[Any], *, shards: int = 2, broken: bool = True) -> list[Path]:
    """img2dataset's parquet layout: `folder/00000.parquet` with key, jpg (bytes), caption,
    url, status; plus one row that failed to download (status failed, jpg null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(shards):
        records = [r | {"status": "success"} for r in _records(photos, broken=broken, shard=shard, shard_size=len(photos))]
        records.append({"key": f"{shard:05d}9999", "jpg": None, "caption": "lost", "url": "https://example.com/x", "status": "failed_to_download"})
        path = folder / f"{shard:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(records), path, row_group_size=3)
        paths.append(path)
    return paths


def write_hf_parquet(path: Path, photos: Sequence[Any]) -> Path:
    """A Hugging Face dataset Parquet (`datasets` writes it): `image` ({bytes, path}) + `text`."""
    from datasets import Dataset, Features, Image, Value

    data = {
        "image": [{"bytes": jpeg_bytes(p), "path": f"img{i}.jpg"} for i, p in enumerate(photos)],
        "text": [f"label {i}" for i in range(len(photos))],
        "id": [f"row-{i}" for i in range(len(photos))],
    }
    features = Features({"image": Image(), "text": Value("string"), "id": Value("string")})
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(data, features=features).to_parquet(str(path))
    return path


def write_save_to_disk(folder: Path, photos: Sequence[Any]) -> Path:
    """`Dataset.save_to_disk(folder)`: Arrow files + dataset_info.json + state.json."""
    from datasets import Dataset, Features, Image, Value

    data = {"picture": [{"bytes": jpeg_bytes(p), "path": None} for p in photos], "label": list(range(len(photos)))}
    features = Features({"picture": Image(), "label": Value("int64")})
    Dataset.from_dict(data, features=features).save_to_disk(str(folder))
    return folder


def write_files_layout(folder: Path, photos: Sequence[Any], *, shards: int = 2) -> list[Path]:
    """img2dataset's default `files` layout: `folder/00000/000000000.jpg` with `.txt` and `.json`
    beside each picture, and per shard a metadata `00000.parquet` (no images) and
    `00000_stats.json`. Returns the pictures' paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pictures = []
    for shard in range(shards):
        records = _records(photos, broken=False, shard=shard, shard_size=len(photos))
        (folder / f"{shard:05d}").mkdir(parents=True, exist_ok=True)
        for r in records:
            stem = folder / f"{shard:05d}" / r["key"]
            stem.with_suffix(".jpg").write_bytes(r["jpg"])
            stem.with_suffix(".txt").write_text(r["caption"])
            stem.with_suffix(".json").write_text(json.dumps({"key": r["key"], "url": r["url"], "status": "success"}))
            pictures.append(stem.with_suffix(".jpg"))
        meta_rows = [{"url": r["url"], "key": r["key"], "caption": r["caption"], "status": "success"} for r in records]
        pq.write_table(pa.Table.from_pylist(meta_rows), folder / f"{shard:05d}.parquet")
        (folder / f"{shard:05d}_stats.json").write_text(json.dumps({"count": len(records)}))
    return pictures


def write_video_webdataset(folder: Path, clips: Sequence[tuple[str, bytes]], *, shard: int = 0) -> Path:
    """video2dataset's webdataset layout: `folder/00000.tar` holding `000000000.mp4` (or the
    clip's own extension), `.txt` and `.json` per key, with `00000_stats.json` and a metadata
    `00000.parquet` beside it. `clips`: (extension, bytes) pairs. Returns the tar's path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{shard:05d}.tar"
    meta_rows = []
    with tarfile.open(path, "w") as tar:
        for i, (ext, data) in enumerate(clips):
            key = f"{shard:05d}{i:04d}"
            meta = {"url": f"https://example.com/v/{key}.{ext}", "key": key, "caption": f"clip {key}", "status": "success"}
            _add(tar, f"{key}.{ext}", data)
            _add(tar, f"{key}.txt", meta["caption"].encode())
            _add(tar, f"{key}.json", json.dumps(meta).encode())
            meta_rows.append(meta)
    (folder / f"{shard:05d}_stats.json").write_text(json.dumps({"count": len(clips), "successes": len(clips)}))
    pq.write_table(pa.Table.from_pylist(meta_rows), folder / f"{shard:05d}.parquet")
    return path
