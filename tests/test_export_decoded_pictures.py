"""A trainer loads each exported picture as the model saw it when it wrote the caption.

Before: `vlm export` copied every image byte for byte, and a trainer's plain
`Image.open(...).convert("RGB")` (`datasets`' imagefolder and Parquet `Image`, WebDataset's
decoders) saw another picture than the run's loader had shown the model: a fully clear RGBA
PNG black where the model saw white, the bright green under a transparent half, a 16-bit grey
photo white, a float one black, an Adobe RGB or Display P3 photo's colours unconverted, a
CMYK JPEG without its press profile, a portrait JPEG sideways (WebDataset). Now such pictures
are written as the run decoded them (a lossless PNG, `.png`); a plain JPEG stays a byte copy,
and so does an EXIF-turned JPEG where `datasets` turns it itself (imagefolder, Parquet).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.decoded import decoded_png, differences
from vlmcli.media.images import decode_image
from vlmcli.testing.fakes import isolate_env, real_photo
from vlmcli.testing.media.icc import ADOBE_RGB, WIDE_P3, cmyk_profile, rgb_profile
from vlmcli.testing.media.raw_files import tiff_raw

runner = CliRunner()
SIZE = (96, 64)
DECODED = {  # file -> its name in the export; each is read otherwise by a bare convert("RGB")
    "all_clear_black.png": "all_clear_black.png",
    "astro_rgba_halfclear.png": "astro_rgba_halfclear.png",
    "cam_gray16.png": "cam_gray16.png",
    "cam_gray16.tif": "cam_gray16.tif.png",
    "cam_float32.tif": "cam_float32.tif.png",
    "cam_la.png": "cam_la.png",
    "coffee_adobe.png": "coffee_adobe.png",
    "coffee_p3.png": "coffee_p3.png",
    "coffee_adobe.jpg": "coffee_adobe.jpg.png",
    "chelsea_cmyk_profile.jpg": "chelsea_cmyk_profile.jpg.png",
}
KEPT = ("plain.jpg", "grey.jpg", "opaque_rgba.png")
"""Pictures whose bare reading is the run's: their bytes are exported as they are."""
TURNED = "portrait.jpg"
"""A JPEG stored sideways with EXIF orientation 6: `datasets` turns it, WebDataset does not."""


def _photo(name: str) -> Image.Image:
    return real_photo(name).resize(SIZE)


def make_pictures(folder: Path) -> None:
    folder.mkdir(parents=True)
    astro, coffee, cam = _photo("astronaut"), _photo("coffee"), real_photo("camera").resize(SIZE)
    Image.new("RGBA", SIZE, (0, 0, 0, 0)).save(folder / "all_clear_black.png")
    rgba = np.asarray(astro.convert("RGBA")).copy()
    rgba[:, : SIZE[0] // 2, 3] = 0
    rgba[:, : SIZE[0] // 2, :3] = (0, 255, 0)  # what an editor leaves under alpha 0
    Image.fromarray(rgba, "RGBA").save(folder / "astro_rgba_halfclear.png")
    grey16 = np.asarray(cam).astype(np.uint16) * 257
    Image.fromarray(grey16).save(folder / "cam_gray16.png")
    Image.fromarray(grey16).save(folder / "cam_gray16.tif")
    Image.fromarray(np.asarray(cam).astype(np.float32) / 255).save(folder / "cam_float32.tif")
    alpha = np.where(np.arange(SIZE[0])[None, :] < SIZE[0] // 2, 0, 255).repeat(SIZE[1], 0).astype(np.uint8)
    Image.fromarray(np.stack([np.asarray(cam), alpha], -1), "LA").save(folder / "cam_la.png")
    coffee.save(folder / "coffee_adobe.png", icc_profile=rgb_profile(ADOBE_RGB))
    coffee.save(folder / "coffee_p3.png", icc_profile=rgb_profile(WIDE_P3))
    coffee.save(folder / "coffee_adobe.jpg", quality=95, icc_profile=rgb_profile(ADOBE_RGB))
    _photo("chelsea").convert("CMYK").save(folder / "chelsea_cmyk_profile.jpg", quality=95, icc_profile=cmyk_profile())
    _photo("chelsea").save(folder / "plain.jpg", quality=90)
    cam.save(folder / "grey.jpg", quality=90)
    astro.convert("RGBA").save(folder / "opaque_rgba.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    coffee.transpose(Image.Transpose.ROTATE_90).save(folder / TURNED, quality=92, exif=exif.tobytes())


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_checkpoint) -> tuple[Path, Path]:
    """(the pictures, the caption run's output), captioned by a tiny Qwen2-VL."""
    tmp = tmp_path_factory.mktemp("decoded")
    pictures, out = tmp / "pictures", tmp / "caps"
    make_pictures(pictures)
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_env(monkeypatch, tmp)
        model = str(tiny_checkpoint("qwen2_vl"))
        done = runner.invoke(app, ["caption-dir", str(pictures), "-o", str(out), "-m", model, "-q", "--max-tokens", "4"])
    assert done.exit_code == 0, done.output
    return pictures, out


def export(run: tuple[Path, Path], fmt: str, dest: Path, *flags: str) -> dict:
    result = runner.invoke(app, ["export", str(run[1]), "--to", fmt, "-o", str(dest), "--json", *flags])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert f"note: {len(DECODED) + (fmt in ('webdataset', 'txt'))} images written as decoded (" in result.stderr
    assert "the picture each caption describes" in result.stderr
    return summary


def seen_by_model(path: Path) -> np.ndarray:
    return np.asarray(decode_image(path.read_bytes(), path.name), dtype=np.float64)


def trainer(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("RGB"), dtype=np.float64)


def assert_same_picture(got: np.ndarray, path: Path, *, within: float = 1.0) -> None:
    want = seen_by_model(path)
    assert got.shape == want.shape, path.name
    assert np.abs(got - want).mean() < within, (path.name, np.abs(got - want).mean())


REENCODED = 2.0
"""Mean difference a quality-95 JPEG re-encode of a small photo stays within (measured 1.35)."""


def check_loaded(pictures: Path, loaded: dict[str, np.ndarray], raw: dict[str, bytes]) -> None:
    """`loaded`: export name -> the picture as a trainer loads it; `raw`: export name -> its bytes."""
    for source, name in DECODED.items():
        assert name in loaded, (name, sorted(loaded))
        assert raw[name][:8] == b"\x89PNG\r\n\x1a\n"
        assert_same_picture(loaded[name], pictures / source)
    for name in KEPT:
        assert raw[name] == (pictures / name).read_bytes(), name  # the common case: a byte copy
        assert_same_picture(loaded[name], pictures / name)


def test_imagefolder_loads_the_pictures_the_captions_describe(run, tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "if"
    summary = export(run, "imagefolder", out)
    assert summary["written_as_decoded"] == len(DECODED)
    assert summary["decoded_reasons"] == {"alpha": 3, "16-bit": 3, "colour profile": 4}
    table = datasets.load_dataset("imagefolder", data_dir=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    names = [json.loads(line)["file_name"] for line in (out / "metadata.jsonl").read_text().splitlines()]
    loaded = {name: trainer(row["image"]) for name, row in zip(names, table)}
    check_loaded(run[0], loaded, {name: (out / name).read_bytes() for name in names})
    assert (out / TURNED).read_bytes() == (run[0] / TURNED).read_bytes()  # `datasets` turns it itself
    assert_same_picture(loaded[TURNED], run[0] / TURNED)


def test_parquet_holds_the_pictures_the_captions_describe(run, tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "pq"
    summary = export(run, "parquet", out)
    assert summary["written_as_decoded"] == len(DECODED)
    files = str(out / "*.parquet")
    table = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    loaded = {row["file_name"]: trainer(row["image"]) for row in table}
    raw = {row["file_name"]: row["image"]["bytes"] for row in table.cast_column("image", datasets.Image(decode=False))}
    check_loaded(run[0], loaded, raw)
    assert raw[TURNED] == (run[0] / TURNED).read_bytes()
    assert_same_picture(loaded[TURNED], run[0] / TURNED)


def test_webdataset_decoders_get_the_pictures_the_captions_describe(run, tmp_path):
    wds = pytest.importorskip("webdataset")
    out = tmp_path / "wds"
    summary = export(run, "webdataset", out)
    assert summary["written_as_decoded"] == len(DECODED) + 1  # the portrait too: WebDataset does not turn it
    assert summary["decoded_reasons"]["EXIF orientation"] == 1
    loaded, raw = {}, {}
    for sample in wds.WebDataset(str(out / "00000.tar"), shardshuffle=False).decode("pilrgb"):
        loaded[sample["json"]["path"]] = trainer(sample.get("png") or sample["jpg"])  # its .json decoded too
    for sample in wds.WebDataset(str(out / "00000.tar"), shardshuffle=False):
        raw[json.loads(sample["json"])["path"]] = sample.get("png") or sample["jpg"]
    check_loaded(run[0], loaded, raw)
    assert_same_picture(loaded[TURNED], run[0] / TURNED, within=REENCODED)
    assert raw[TURNED][:3] == b"\xff\xd8\xff"  # still a JPEG, upright (not a PNG 5-10x its size)


def test_txt_with_images_copies_the_pictures_the_captions_describe(run, tmp_path):
    out = tmp_path / "txt"
    export(run, "txt", out, "--with-images")
    copies = {name: Path(name).stem for name in DECODED} | {
        "cam_gray16.tif": "cam_gray16_1",  # after cam_gray16.png, whose caption file is cam_gray16.txt
        "coffee_adobe.png": "coffee_adobe_1",  # after coffee_adobe.jpg, copied as coffee_adobe.png
    }
    for source, stem in copies.items():
        copied = out / f"{stem}.png"
        assert copied.is_file() and (out / f"{stem}.txt").is_file(), source
        with Image.open(copied) as picture:
            assert_same_picture(trainer(picture), run[0] / source)
    assert (out / "plain.jpg").read_bytes() == (run[0] / "plain.jpg").read_bytes()
    with Image.open(out / TURNED) as picture:  # kohya-style loaders do not turn it: a JPEG, upright
        assert picture.format == "JPEG" and not picture.getexif().get(0x0112)
        assert_same_picture(trainer(picture), run[0] / TURNED, within=REENCODED)


def test_a_decoded_name_never_takes_another_pictures(tmp_path, monkeypatch):
    """`cam.tif` goes in as `cam.tif.png`; a real `cam.tif.png` beside it keeps its name, and
    the decoded one gets `cam.tif_1.png`. A dataset item's extension is replaced."""
    from vlmcli.testing.fakes import caption_dir, install_fake_engine

    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    photos = tmp_path / "photos"
    photos.mkdir()
    grey16 = Image.fromarray(np.asarray(real_photo("camera").resize(SIZE)).astype(np.uint16) * 257)
    grey16.save(photos / "cam.tif")
    _photo("coffee").save(photos / "cam.tif.png")
    shard = tmp_path / "shards" / "00000.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w") as tar:
        buffer = io.BytesIO()
        grey16.save(buffer, format="TIFF")
        info = tarfile.TarInfo("000000001.tif")
        info.size = len(buffer.getvalue())
        tar.addfile(info, io.BytesIO(buffer.getvalue()))
    assert caption_dir(photos, "-o", tmp_path / "caps")["ok"] == 2
    assert caption_dir(shard, "-o", tmp_path / "items")["ok"] == 1
    out = tmp_path / "if"
    assert runner.invoke(app, ["export", str(tmp_path / "caps"), "--to", "imagefolder", "-o", str(out)]).exit_code == 0
    names = sorted(json.loads(line)["file_name"] for line in (out / "metadata.jsonl").read_text().splitlines())
    assert names == ["cam.tif.png", "cam.tif_1.png"]
    assert (out / "cam.tif.png").read_bytes() == (photos / "cam.tif.png").read_bytes()
    assert_same_picture(trainer(Image.open(out / "cam.tif_1.png")), photos / "cam.tif")
    items = tmp_path / "items_if"
    assert runner.invoke(app, ["export", str(tmp_path / "items"), "--to", "imagefolder", "-o", str(items)]).exit_code == 0
    names = [json.loads(line)["file_name"] for line in (items / "metadata.jsonl").read_text().splitlines()]
    assert names == ["000000001.png"]


def test_a_portrait_camera_raw_goes_in_upright(tmp_path, monkeypatch):
    """A raw's preview carries no orientation (the raw's own EXIF turns it): copied as it was,
    every loader read a portrait shot sideways."""
    from vlmcli.testing.fakes import caption_dir, install_fake_engine

    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "DSC_0001.nef").write_bytes(tiff_raw(real_photo("coffee"), orientation=6))
    assert caption_dir(photos, "-o", tmp_path / "caps")["ok"] == 1
    out = tmp_path / "if"
    assert runner.invoke(app, ["export", str(tmp_path / "caps"), "--to", "imagefolder", "-o", str(out)]).exit_code == 0
    with Image.open(out / "DSC_0001.nef.jpg") as picture:
        assert picture.format == "JPEG"
        assert_same_picture(trainer(picture), photos / "DSC_0001.nef")


def _encoded(picture: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _otherwise() -> dict[str, tuple[bytes, tuple[str, ...]]]:
    """name -> (bytes a bare convert("RGB") reads otherwise than the run, why)."""
    from vlmcli.testing.media.other_pictures import fits_bytes

    photo = _photo("astronaut")
    keyed = photo.convert("RGB")
    keyed.paste((10, 20, 30), (0, 0, 40, 40))
    gif = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    gif.paste(0, (0, 0, 48, 64))
    fallback, *frames = [photo.rotate(angle) for angle in (0, 90, 180)]
    apng = _encoded(fallback, "PNG", save_all=True, append_images=frames, default_image=True, duration=100)
    counts = np.asarray(real_photo("camera").resize(SIZE)).astype(np.int16) * 3 + 200
    return {
        "keyed.png": (_encoded(keyed, "PNG", transparency=(10, 20, 30)), ("alpha",)),  # a tRNS colour key
        "clear_index.gif": (_encoded(gif, "GIF", transparency=0), ("alpha",)),
        "fallback.png": (apng, ("APNG fallback frame",)),
        "frame.fits": (fits_bytes(counts), ("16-bit", "FITS stretch")),
    }


def _same_both_ways() -> dict[str, bytes]:
    """name -> bytes whose bare convert("RGB") is the run's picture: never rewritten."""
    from PIL import ImageCms

    photo = _photo("chelsea")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return {
        "srgb_profile.jpg": _encoded(photo, "JPEG", quality=90, icc_profile=srgb),
        "cmyk_no_profile.jpg": _encoded(photo.convert("CMYK"), "JPEG", quality=90),
        "palette.png": _encoded(photo.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "opaque_la.png": _encoded(photo.convert("LA"), "PNG"),
        "plain.webp": _encoded(photo, "WEBP", quality=80),
    }


@pytest.mark.parametrize("name", sorted(_otherwise()))
def test_a_picture_read_otherwise_is_told_from_its_header_and_written_as_the_run_saw_it(name):
    data, why = _otherwise()[name]
    model = np.asarray(decode_image(data, name), dtype=np.float64)
    with Image.open(io.BytesIO(data)) as plain:
        bare = trainer(plain)
    assert bare.shape != model.shape or np.abs(bare - model).mean() > 5  # the trainer's picture before
    assert differences(data, name, transposes=True) == why
    png = decoded_png(data, name)
    assert png is not None and png.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(png)) as written:
        assert not written.info.get("icc_profile") and written.getexif().get(0x0112) is None
        assert (trainer(written) == model).all()


@pytest.mark.parametrize("name", sorted(_same_both_ways()))
def test_a_picture_read_alike_keeps_its_bytes(name):
    data = _same_both_ways()[name]
    with Image.open(io.BytesIO(data)) as plain:
        assert (trainer(plain) == np.asarray(decode_image(data, name))).all()
    assert differences(data, name, transposes=False) == ()
