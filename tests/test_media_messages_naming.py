"""Messages about one input of several name it. `vlm ask -m qwen a.jpg strip.png q` said
"Error: A 1x20000 image is too elongated for Qwen models" (which file?), where describe and
caption-dir say the path; a multi-page TIFF read from standard input was "note: -: A TIFF ...".
The planning sees sizes, not files: its refusal keeps the size (`tiling.refusal`), and ask
names the inputs of that size (`commands._inputs.naming_refused`)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError, InputError
from vlmcli.media.document_input import DocumentInput
from vlmcli.media.image_input import ImageInput
from vlmcli.media.names import said_of
from vlmcli.testing.fakes import install_fake_engine, isolate_env, real_photo
from vlmcli.tiling.policy import ResolutionPolicy
from vlmcli.tiling.refusal import about_image, refused_size

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = str(ROOT / "models" / "reference")  # the shipped tiny Qwen3-VL


def app():
    from vlmcli.cli import app as vlm

    return vlm


def grey(width: int, height: int, source: str) -> ImageInput:
    return ImageInput(image=Image.new("RGB", (width, height), "grey"), source=source)


def test_ask_names_the_image_the_model_refuses(tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    Image.new("RGB", (64, 64), "red").save(tmp_path / "a.png")
    Image.new("RGB", (1, 4000), "blue").save(tmp_path / "strip.png")
    asked = CliRunner().invoke(app(), ["ask", "-m", REFERENCE, str(tmp_path / "a.png"), str(tmp_path / "strip.png"), "q"])
    assert asked.exit_code == 3, asked.output
    assert asked.stderr == (
        f"Error: {tmp_path / 'strip.png'}: a 1x4000 image is too elongated for Qwen models (the long side may be "
        "at most 200x the short side); crop it first.\n"
    )
    piped = CliRunner().invoke(app(), ["ask", "-m", REFERENCE, "-", "q"], input=(tmp_path / "strip.png").read_bytes())
    assert piped.exit_code == 3 and piped.stderr.startswith("Error: <stdin>: a 1x4000 image is too elongated"), piped.stderr


def test_a_refusal_names_every_input_of_its_size_pages_and_frames_too():
    from vlmcli.commands._inputs import naming_refused

    page = grey(1, 900, "scan.pdf#page=2")
    document = DocumentInput(source="scan.pdf", pages=(grey(60, 80, "scan.pdf#page=1"), page), page_count=2)
    clip = VideoInput(frames=np.zeros((2, 900, 1, 3), np.uint8), timestamps=[0.0, 1.0], fps=1.0, source="cam.mp4")
    media = [grey(1, 900, "-"), grey(64, 64, "a.png"), document, clip]
    refused = about_image(InputError("A 1x900 image is too thin for this model."), width=1, height=900)
    named = naming_refused(refused, media)
    assert str(named) == "<stdin>, scan.pdf#page=2, cam.mp4: a 1x900 image is too thin for this model."
    assert isinstance(named, InputError) and named.exit_code == 3 and refused_size(named) == (1, 900)
    cap = about_image(ConfigError("--max-pixels/--max-tiles allow 300 px, below one canvas."), width=64, height=64)
    assert str(naming_refused(cap, media)) == "a.png: --max-pixels/--max-tiles allow 300 px, below one canvas."
    assert naming_refused(cap, media).exit_code == 2
    other = InputError("The prompt needs 9000 tokens.")
    assert naming_refused(other, media) is other  # about the prompt, not one image
    unknown = about_image(InputError("A 5x5 image."), width=5, height=5)
    assert naming_refused(unknown, media) is unknown


def test_the_refused_size_survives_pickling():
    """caption-dir's worker processes and Ray carry errors pickled."""
    error = pickle.loads(pickle.dumps(about_image(InputError("A 1x900 image is too thin."), width=1, height=900)))
    assert refused_size(error) == (1, 900) and str(error) == "A 1x900 image is too thin."


@pytest.mark.parametrize(
    ("plan", "size"),
    [
        ("qwen", (20000, 1)),
        ("glm4v", (20000, 1)),
        ("mistral3", (1, 1)),
        ("mistral3", (4000, 1)),
        ("mistral3_cap", (4000, 10)),
        ("idefics2", (1, 1)),
        ("minicpmv4_6", (4000, 1)),
        ("gemma4", (100, 100)),
    ],
)
def test_every_planning_refusal_keeps_its_size(plan, size):
    from vlmcli.tiling import gemma4, glm4v, idefics2, minicpmv4_6, mistral3, qwen

    width, height = size
    calls = {
        "qwen": lambda: qwen.plan_qwen(qwen.QwenSpec(), ResolutionPolicy(), width=width, height=height),
        "glm4v": lambda: glm4v.plan_glm4v(glm4v.Glm4vSpec(), ResolutionPolicy(), width=width, height=height),
        "mistral3": lambda: mistral3.plan_mistral3(mistral3.Mistral3Spec(), ResolutionPolicy(), width=width, height=height),
        "mistral3_cap": lambda: mistral3.plan_mistral3(
            mistral3.Mistral3Spec(), ResolutionPolicy(max_pixels=300), width=width, height=height
        ),
        "idefics2": lambda: idefics2.check_splittable([size]),
        "minicpmv4_6": lambda: minicpmv4_6._check_thumbnails(minicpmv4_6.MiniCPMV4_6Spec(), 100, [size]),
        "gemma4": lambda: gemma4.gemma4_resize(gemma4.Gemma4Spec(), width=width, height=height, budget=0),
    }
    with pytest.raises((InputError, ConfigError)) as refused:
        calls[plan]()
    assert refused_size(refused.value) == size and f"{width}x{height}" in str(refused.value)


def test_a_multi_page_tiff_from_standard_input_is_named_stdin(tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    scan = tmp_path / "fax.tif"
    pages = [real_photo(name).resize((64, 48)) for name in ("astronaut", "chelsea", "coffee")]
    pages[0].save(scan, save_all=True, append_images=pages[1:])
    result = CliRunner().invoke(app(), ["ask", "-", "What is this?"], input=scan.read_bytes())
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "note: <stdin>: a TIFF of 3 pages; only its first page was read (convert it to PDF to read them all: "
        "each page of a PDF is read)."
    ]


def test_describe_json_error_names_the_input_once():
    from vlmcli.commands._render import error_record

    refused = about_image(InputError("A 1x900 image is too thin."), width=1, height=900)
    assert error_record("strip.png", refused)["error"] == "strip.png: a 1x900 image is too thin."
    assert error_record("zero.png", InputError("zero.png is empty (0 bytes)."))["error"] == "zero.png is empty (0 bytes)."
    assert error_record("-", InputError("<stdin> is empty."))["error"] == "<stdin> is empty."


def test_said_of_keeps_an_acronym_and_lowers_a_sentence():
    assert said_of("x.tif", "A TIFF of 3 pages.") == "x.tif: a TIFF of 3 pages."
    assert said_of("x.tif", "TIFF pages: 3.") == "x.tif: TIFF pages: 3."
    assert said_of("x.mp4", "An animation.") == "x.mp4: an animation."
    assert said_of("x.png", "--max-pixels 5 is low.") == "x.png: --max-pixels 5 is low."
