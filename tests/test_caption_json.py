"""caption-dir over JSON records that name pictures: LLaVA-style instruction data (one JSON
array, image paths relative to an image folder given apart, text-only records mixed in) and
JSON Lines as `datasets`' `to_json` writes them. Before, a .json INPUT was one error row
("not an image"). `--image-root` says where relative paths start (CSV and Parquet too)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.inputs.formats import InputFormat, detect_format
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)



@pytest.fixture
def llava(tmp_path):
    """data/llava_mix.json and images/coco/*.jpg, as LLaVA's training scripts lay them out."""
    (tmp_path / "images" / "coco").mkdir(parents=True)
    for i, photo in enumerate(sample_photos()[:2]):
        (tmp_path / "images" / "coco" / f"{i:012d}.jpg").write_bytes(jpeg_bytes(photo))
    turns = [{"from": "human", "value": "<image>\nWhat is shown?"}, {"from": "gpt", "value": "A photo."}]
    records = [
        {"id": "a", "image": "coco/000000000000.jpg", "conversations": turns},
        {"id": "b", "conversations": [{"from": "human", "value": "Tell me a joke."}]},  # text only: no picture
        {"id": "c", "image": "coco/000000000001.jpg", "conversations": turns},
        {"id": "d", "image": "coco/missing.jpg", "conversations": turns},
    ]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "llava_mix.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    return tmp_path


def test_llava_array_with_an_image_root(monkeypatch, llava):
    install_fake_engine(monkeypatch)
    table = llava / "data" / "llava_mix.json"
    assert detect_format(table) is InputFormat.JSON
    summary = caption(table, "-o", llava / "out", "--image-root", llava / "images", "--keep-columns", "conversations", code=9)
    assert (summary["ok"], summary["error"]) == (2, 1)
    rows = {r["source_key"]: r for r in read_results(llava / "out")}
    assert sorted(rows) == ["a", "c", "d"] and "cannot read the image file" in rows["d"]["error"]
    assert json.loads(rows["a"]["extra"])["conversations"][1]["value"] == "A photo."
    again = caption(table, "-o", llava / "out", "--image-root", llava / "images", code=9)
    assert (again["ok"], again["skipped"]) == (0, 2)
    root = ["--image-root", str(llava / "images")]  # report and export read the pictures back from there
    page = llava / "report.html"
    assert runner.invoke(app, ["report", str(llava / "out"), "-o", str(page), *root]).exit_code == 0
    assert page.read_text().count('<img src="data:image/jpeg;base64,') == 2
    exported = runner.invoke(app, ["export", str(llava / "out"), "--to", "webdataset", "-o", str(llava / "wds"), "--json", *root])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["records"] == 2


def test_without_the_root_the_hint_names_the_flag(monkeypatch, llava):
    install_fake_engine(monkeypatch)
    monkeypatch.chdir(llava / "images")
    caption(llava / "data" / "llava_mix.json", "-o", llava / "out", code=9)
    error = next(r["error"] for r in read_results(llava / "out") if r["source_key"] == "a")
    assert "coco/000000000000.jpg exists from the current folder" in error and "--image-root ." in error


def test_json_lines_from_datasets_to_json(monkeypatch, tmp_path):
    from datasets import Dataset

    install_fake_engine(monkeypatch)
    for i, photo in enumerate(sample_photos()[:2]):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg_bytes(photo))
    Dataset.from_dict({"file_name": ["0.jpg", "1.jpg"], "label": [3, 4]}).to_json(str(tmp_path / "train.jsonl"))
    with open(tmp_path / "train.jsonl", "a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    summary = caption(tmp_path / "train.jsonl", "-o", tmp_path / "out", "--keep-columns", "label", code=9)
    assert (summary["ok"], summary["error"]) == (2, 1)
    rows = {r["source_key"]: r for r in read_results(tmp_path / "out")}
    assert json.loads(rows["1.jpg"]["extra"]) == {"label": 4}
    (bad,) = [r for r in rows.values() if r["status"] == "error"]
    assert "line 3 is not JSON" in bad["error"]


def test_image_root_for_a_csv_and_a_missing_root(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.jpg").write_bytes(jpeg_bytes(sample_photos()[0]))
    (tmp_path / "list.csv").write_text("path\na.jpg\n")
    assert caption(tmp_path / "list.csv", "-o", tmp_path / "out", "--image-root", tmp_path / "pics", code=0)["ok"] == 1
    result = caption(tmp_path / "list.csv", "-o", tmp_path / "o2", "--image-root", tmp_path / "nope", code=2)
    assert "--image-root" in result.stderr and "is not a folder" in result.stderr


def test_coco_annotations_and_json_lines_named_json(monkeypatch, tmp_path):
    """COCO's captions_train2017.json (pretty-printed here) names its pictures in `images`;
    `datasets`' `to_json("x.json")` writes JSON Lines under a .json name."""
    from datasets import Dataset

    install_fake_engine(monkeypatch)
    (tmp_path / "train2017").mkdir()
    for i, photo in enumerate(sample_photos()[:2]):
        (tmp_path / "train2017" / f"{i + 1:012d}.jpg").write_bytes(jpeg_bytes(photo))
    coco = {"info": {"year": 2017}, "images": [{"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "height": 1}
                                              for i in range(2)], "annotations": [{"image_id": 1, "caption": "x"}]}
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "captions_train2017.json").write_text(json.dumps(coco, indent=2))
    summary = caption(tmp_path / "annotations" / "captions_train2017.json", "-o", tmp_path / "a",
                      "--image-root", tmp_path / "train2017", code=0)
    assert summary["ok"] == 2 and sorted(r["source_key"] for r in read_results(tmp_path / "a")) == ["1", "2"]
    Dataset.from_dict({"image": [f"train2017/{i + 1:012d}.jpg" for i in range(2)]}).to_json(str(tmp_path / "lines.json"))
    assert caption(tmp_path / "lines.json", "-o", tmp_path / "b", code=0)["ok"] == 2


def test_a_folder_of_annotations_points_at_the_file(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)  # the input's error, whatever the network (no hub lookup of the model)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "captions_val2017.json").write_text('{"images": []}')
    result = runner.invoke(app, ["caption-dir", str(tmp_path / "annotations"), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 3, result.output
    assert "captions_val2017.json is a dataset file: pass it as an INPUT itself" in result.stderr


def test_chat_records_give_the_pictures_of_their_messages(monkeypatch, tmp_path):
    """OpenAI chat / vision fine-tuning JSONL, Batch API request lines and Qwen-style
    conversations hold their pictures in the messages' content parts: "has no image column"."""
    import base64

    install_fake_engine(monkeypatch)
    photos = [jpeg_bytes(p) for p in sample_photos()[:2]]
    (tmp_path / "cup.jpg").write_bytes(photos[1])
    uri = "data:image/jpeg;base64," + base64.b64encode(photos[0]).decode()

    def user(*parts):
        return {"role": "user", "content": [*parts, {"type": "text", "text": "What is this?"}]}

    lines = [
        {"messages": [user({"type": "image_url", "image_url": {"url": uri, "detail": "low"}}),
                      {"role": "assistant", "content": "A photo."}]},
        {"messages": [{"role": "system", "content": "Be brief."}, user({"type": "image", "image": f"file://{tmp_path}/cup.jpg"})]},
        {"messages": [user({"type": "input_image", "image_url": "https://example.com/a.jpg"})]},
        {"messages": [{"role": "user", "content": "No picture here."}]},  # text only: skipped
        {"custom_id": "batch-7", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "gpt-4o", "messages": [user({"type": "image_url", "image_url": {"url": uri}},
                                                       {"type": "image_url", "image_url": {"url": uri}})]}},
    ]  # fmt: skip
    (tmp_path / "finetune.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    summary = caption(tmp_path / "finetune.jsonl", "-o", tmp_path / "out", code=9)
    rows = {r["source_key"]: r for r in read_results(tmp_path / "out")}
    assert sorted(rows) == ["00000000#image0", "00000001#image0", "00000002#image0", "batch-7#image0", "batch-7#image1"]
    assert (summary["ok"], summary["error"]) == (4, 1)
    assert "vlmcli does not download" in rows["00000002#image0"]["error"]
    import hashlib

    same = {rows[k]["key"] for k in ("00000000#image0", "batch-7#image0", "batch-7#image1")}
    assert same == {hashlib.sha256(photos[0]).hexdigest()}  # one picture, three mentions: captioned once
    assert rows["00000001#image0"]["key"] == hashlib.sha256(photos[1]).hexdigest()  # the file:// path
    assert [r["status"] for k, r in sorted(rows.items()) if k != "00000002#image0"] == ["ok"] * 4


def test_a_mix_of_image_and_video_records_gives_the_clips_too(monkeypatch, llava):
    """LLaVA-OneVision's and LLaVA-Video's training mixes: some records name an `image`, others
    a `video`. Before, the image field was picked and every video record skipped as if it were
    text-only, silently."""
    from vlmcli.testing.media.video_clips import clip_set

    install_fake_engine(monkeypatch)
    (llava / "images" / "clips").mkdir()
    (llava / "images" / "clips" / "v1.mp4").write_bytes(clip_set().motion.path.read_bytes())
    mix = json.loads((llava / "data" / "llava_mix.json").read_text(encoding="utf-8"))
    mix += [{"id": "v1", "video": "clips/v1.mp4", "conversations": []}, {"id": "v2", "video": "clips/gone.mp4"}]
    table = llava / "data" / "onevision.json"
    table.write_text(json.dumps(mix), encoding="utf-8")
    root = ("--image-root", llava / "images")

    first = caption(table, "-o", llava / "out", *root, code=9)
    rows = {r["source_key"]: r for r in read_results(llava / "out")}
    assert sorted(rows) == ["a", "c", "d", "v1", "v2"] and (first["ok"], first["error"]) == (2, 3)
    assert "add --videos" in rows["v1"]["error"] and "cannot read the image file" in rows["v2"]["error"]

    again = caption(table, "-o", llava / "out", *root, "--videos", "--frames", 2, code=9)
    rows = {r["source_key"]: r for r in read_results(llava / "out")}
    assert again["ok"] == 1 and rows["v1"]["status"] == "ok" and rows["v1"]["path"].endswith("::v1")
    assert rows["v2"]["status"] == "error"  # still missing


def test_a_table_with_image_and_video_columns_reads_each_rows_own(monkeypatch, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vlmcli.testing.media.video_clips import clip_set

    install_fake_engine(monkeypatch)
    clip = clip_set().motion.path.read_bytes()
    picture = jpeg_bytes(sample_photos()[0])
    table = pa.table({"id": ["p", "v", "none"], "image": [picture, None, None], "video": [None, clip, None]})
    pq.write_table(table, tmp_path / "mixed.parquet")
    summary = caption(tmp_path / "mixed.parquet", "-o", tmp_path / "out", "--videos", "--frames", 2, code=9)
    rows = {r["source_key"]: r for r in read_results(tmp_path / "out")}
    assert (summary["ok"], summary["error"]) == (2, 1)
    assert rows["p"]["status"] == rows["v"]["status"] == "ok" and rows["none"]["status"] == "error"
    assert rows["none"]["error"].endswith("no image or video (columns image, video) in this row.")
    named = caption(tmp_path / "mixed.parquet", "-o", tmp_path / "named", "--image-column", "image", code=9)
    assert (named["ok"], named["error"]) == (1, 2)  # named, the column is the one read


def test_a_shard_named_relatively_is_named_once_in_its_errors(monkeypatch, llava):
    """`vlm caption-dir mix.json` from the shard's folder: an error row read
    "/data/mix.json::d: mix.json::d: cannot read ..." (the row's resolved name, then the reader's)."""
    install_fake_engine(monkeypatch)
    monkeypatch.chdir(llava / "data")
    caption("llava_mix.json", "-o", llava / "out", "--image-root", llava / "images", code=9)
    row = next(r for r in read_results(llava / "out") if r["source_key"] == "d")
    shard = str((llava / "data" / "llava_mix.json").resolve())
    assert row["error"].startswith(f"{shard}::d: cannot read the image file") and row["error"].count("::d") == 1


@pytest.mark.parametrize(("name", "encoding"), [("powershell.json", "utf-16"), ("windows.jsonl", "cp1252")])
def test_json_records_in_windows_encodings(monkeypatch, llava, name, encoding):
    """PowerShell 5's `ConvertTo-Json > records.json` writes UTF-16 (was "not a readable JSON
    file"); older Windows tools cp1252 (its `é` came back as U+FFFD, silently)."""
    install_fake_engine(monkeypatch)
    records = [{"id": "a", "image": "coco/000000000000.jpg", "label": "café"}, {"id": "c", "image": "coco/000000000001.jpg", "label": "thé"}]
    text = json.dumps(records, ensure_ascii=False) if name.endswith(".json") else "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    (llava / "data" / name).write_text(text, encoding=encoding)
    summary = caption(llava / "data" / name, "-o", llava / "out", "--image-root", llava / "images", "--keep-columns", "label")
    assert summary["ok"] == 2
    assert sorted(json.loads(r["extra"])["label"] for r in read_results(llava / "out")) == ["café", "thé"]
