"""Dataset shards as caption inputs: detection, brace lists, and each reader on shards
written the way img2dataset, `datasets` and plain tar/pyarrow write them."""

from __future__ import annotations

import hashlib
import tarfile

import pytest

from vlmcli.errors import ConfigError, InputError
from vlmcli.inputs.braces import expand_braces
from vlmcli.inputs.columns import ColumnChoice, image_cell
from vlmcli.inputs.expand import dataset_shards
from vlmcli.inputs.formats import InputFormat, detect_format
from vlmcli.testing import sample_photos
from vlmcli.testing.media.datasets import (
    BROKEN,
    jpeg_bytes,
    write_hf_parquet,
    write_parquet_shards,
    write_save_to_disk,
    write_webdataset,
)

PHOTOS = sample_photos()[:4]


def test_brace_ranges_keep_width_and_nest():
    assert expand_braces("s/{00000..00002}.tar") == ["s/00000.tar", "s/00001.tar", "s/00002.tar"]
    assert expand_braces("{a,b}-{8..10}") == ["a-8", "a-9", "a-10", "b-8", "b-9", "b-10"]
    assert expand_braces("plain.tar") == ["plain.tar"] and expand_braces("x{}.tar") == ["x{}.tar"]


def test_detection_by_content_not_name(tmp_path):
    tars = write_webdataset(tmp_path / "wds", PHOTOS, shards=1)
    gz = write_webdataset(tmp_path / "gz", PHOTOS, shards=1, gz=True)
    parquet = write_parquet_shards(tmp_path / "pq", PHOTOS, shards=1)
    disguised = tmp_path / "shard.bin"
    disguised.write_bytes(tars[0].read_bytes())
    assert detect_format(tars[0]) is detect_format(gz[0]) is detect_format(disguised) is InputFormat.WEBDATASET
    assert detect_format(parquet[0]) is InputFormat.PARQUET
    assert detect_format(tmp_path / "wds") is InputFormat.WEBDATASET  # its metadata .parquet files are not the data
    assert detect_format(tmp_path / "pq") is InputFormat.PARQUET
    photos = tmp_path / "photos"
    photos.mkdir()
    PHOTOS[0].save(photos / "a.jpg")
    assert detect_format(photos) is InputFormat.FILES and detect_format(photos / "a.jpg") is InputFormat.FILES
    assert detect_format(write_save_to_disk(tmp_path / "hf", PHOTOS)) is InputFormat.HF


def test_webdataset_items_keys_bytes_and_kept_json_fields(tmp_path):
    (shard,) = write_webdataset(tmp_path, PHOTOS, shards=1)
    items = list(dataset_shards([str(shard)])[0].items(ColumnChoice(keep_columns=("url", "txt"))))
    assert [i.key for i in items] == [f"00000{i:04d}" for i in range(4)]
    assert items[0].data == jpeg_bytes(PHOTOS[0]) and items[2].data == BROKEN
    assert items[1].extra == {"url": "https://example.com/000000001.jpg", "txt": "alt text 000000001"}


def test_gzip_tar_and_brace_list_and_one_source_per_shard(tmp_path):
    write_webdataset(tmp_path / "s", PHOTOS, shards=3, gz=True)
    refs = dataset_shards([str(tmp_path / "s" / "{00000..00002}.tar.gz")])
    assert [r.path.name for r in refs] == ["00000.tar.gz", "00001.tar.gz", "00002.tar.gz"]
    again = dataset_shards([str(tmp_path / "s"), str(tmp_path / "s" / "." / "00001.tar.gz")])
    assert [r.source for r in again] == [r.source for r in refs]  # the same shard spelled twice is read once
    assert sum(1 for _ in refs[2].items(ColumnChoice())) == 4


def test_truncated_tar_yields_what_it_had_then_fails_the_shard(tmp_path):
    (shard,) = write_webdataset(tmp_path, PHOTOS, shards=1, broken=False)
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) * 2 // 3])
    items = []
    with pytest.raises(InputError, match="damaged or truncated"):
        for item in dataset_shards([str(shard)])[0].items(ColumnChoice()):
            items.append(item)
    assert 1 <= len(items) < 4


def test_a_tar_of_a_folder_in_directory_order_is_still_one_item_per_key(tmp_path):
    """`tar cf` lists a folder's files in directory order, not grouped by key (a.jpg, b.jpg,
    a.txt, b.txt): each key's text became a second, "appears twice" error item."""
    import gzip
    import shutil
    import subprocess

    folder = tmp_path / "pairs"
    folder.mkdir()
    names = []
    for i, photo in enumerate(PHOTOS[:3]):
        (folder / f"{i:03d}.jpg").write_bytes(jpeg_bytes(photo))
        (folder / f"{i:03d}.txt").write_text(f"caption {i}")
        names.append(f"{i:03d}.jpg")
    names += [f"{i:03d}.txt" for i in range(3)]
    shard = tmp_path / "pairs.tar"
    tool = shutil.which("tar")
    if tool is not None:
        subprocess.run([tool, "cf", str(shard), "-C", str(folder), *names], check=True)
    else:
        with tarfile.open(shard, "w") as tar:
            for name in names:
                tar.add(folder / name, arcname=name)
    choice = ColumnChoice(keep_columns=("txt",))
    items = list(dataset_shards([str(shard)])[0].items(choice))
    assert [(i.key, i.extra, i.error) for i in items] == [(f"{i:03d}", {"txt": f"caption {i}"}, None) for i in range(3)]
    assert [i.data for i in items] == [(folder / f"{i:03d}.jpg").read_bytes() for i in range(3)]

    packed = tmp_path / "pairs.tar.gz"  # compressed: read as a stream, the repeats say how to fix the shard
    packed.write_bytes(gzip.compress(shard.read_bytes()))
    repeats = [i for i in dataset_shards([str(packed)])[0].items(choice) if i.error]
    assert len(repeats) == 3 and all("not grouped by key: write it with `tar --sort=name`" in i.error for i in repeats)

    data = shard.read_bytes()  # damaged: streamed as before, what was read is kept
    shard.write_bytes(data[: len(data) * 3 // 4])
    got = []
    with pytest.raises(InputError, match="damaged or truncated"):
        for item in dataset_shards([str(shard)])[0].items(choice):
            got.append(item)
    assert got and got[0].key == "000"


def test_key_without_image_is_an_error_item(tmp_path):
    path = tmp_path / "odd.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in (("a.txt", b"text only"), ("b.jpg", jpeg_bytes(PHOTOS[0]))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            import io

            tar.addfile(info, io.BytesIO(data))
    a, b = dataset_shards([str(path)])[0].items(ColumnChoice())
    assert a.data is None and "has no image or video (fields: txt)" in a.error and b.data is not None


def test_img2dataset_parquet_failed_download_and_row_groups(tmp_path):
    (shard,) = write_parquet_shards(tmp_path, PHOTOS, shards=1)
    items = list(dataset_shards([str(shard)])[0].items(ColumnChoice(keep_columns=("caption",))))
    assert len(items) == 5 and items[0].key == "000000000" and items[0].extra == {"caption": "alt text 000000000"}
    assert items[-1].data is None and "no image in this row" in items[-1].error


def test_hf_parquet_image_struct_and_declared_image_column(tmp_path):
    path = write_hf_parquet(tmp_path / "train.parquet", PHOTOS)
    items = list(dataset_shards([str(path)])[0].items(ColumnChoice(keep_columns=("text",))))
    assert [i.key for i in items] == ["row-0", "row-1", "row-2", "row-3"]  # from the `id` column
    assert all(i.data == jpeg_bytes(p) for i, p in zip(items, PHOTOS)) and items[3].extra == {"text": "label 3"}


def test_save_to_disk_folder_picks_the_image_feature_column(tmp_path):
    folder = write_save_to_disk(tmp_path / "ds", PHOTOS)
    (ref,) = dataset_shards([str(folder)])
    items = list(ref.items(ColumnChoice()))
    assert [i.key for i in items] == ["00000000", "00000001", "00000002", "00000003"]  # no key column: row numbers
    assert hashlib.sha256(items[1].data).hexdigest() == hashlib.sha256(jpeg_bytes(PHOTOS[1])).hexdigest()


def test_path_and_url_cells(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    PHOTOS[0].save(tmp_path / "local.jpg")
    table = pa.table({"file_name": ["local.jpg", "gone.jpg", "https://x.org/a.jpg"], "image": ["local.jpg", "gone.jpg", "https://x.org/a.jpg"]})
    pq.write_table(table, tmp_path / "paths.parquet")
    ok, gone, url = dataset_shards([str(tmp_path / "paths.parquet")])[0].items(ColumnChoice())
    assert ok.data == (tmp_path / "local.jpg").read_bytes() and ok.key == "local.jpg"
    assert "cannot read the image file" in gone.error and "does not download" in url.error
    assert image_cell({"bytes": None, "path": "p.png"}).path == "p.png"


def test_bad_column_flags_and_mixed_inputs(tmp_path):
    (shard,) = write_parquet_shards(tmp_path / "pq", PHOTOS, shards=1)
    with pytest.raises(ConfigError, match="--image-column 'nope'"):
        next(dataset_shards([str(shard)])[0].items(ColumnChoice(image_column="nope")))
    with pytest.raises(ConfigError, match="--keep-columns: nope"):
        next(dataset_shards([str(shard)])[0].items(ColumnChoice(keep_columns=("nope",))))
    photos = tmp_path / "photos"
    photos.mkdir()
    with pytest.raises(ConfigError, match="Mixed inputs"):
        dataset_shards([str(photos), str(shard)])
    assert dataset_shards([str(photos)]) is None
    with pytest.raises(InputError, match="No such shard"):
        dataset_shards([str(tmp_path / "pq" / "{00000..00001}.parquet")])
