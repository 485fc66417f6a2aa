"""`vlm ask` with a fake engine: stdout/stderr split, streaming, --json, several images, stdin."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo
from vlmcli.cli import app
from vlmcli.engine.config import Device, DType
from vlmcli.families import DEFAULT_MODEL

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def photos(tmp_path):
    return save_photo(tmp_path / "astronaut.jpg"), save_photo(tmp_path / "cat.png", "chelsea")


def test_answer_streams_to_stdout_only(monkeypatch, photos):
    fake = install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", str(photos[0]), "What is in this picture?"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Saw {photos[0]}; asked: What is in this picture?\n"
    assert result.stderr == ""
    (request,) = fake.requests
    assert request.prompt == "What is in this picture?" and request.system is None
    assert [i.source for i in request.images] == [str(photos[0])]
    assert request.images[0].image.size == (512, 512)


def test_tokens_are_written_one_by_one_in_order(monkeypatch, photos):
    install_fake_engine(monkeypatch, trace_tokens_to_stderr=True)
    result = runner.invoke(app, ["ask", str(photos[0]), "one two three"])
    # stderr markers interleave with stdout writes: each token was written as it arrived
    assert result.output.startswith("<tok 0>Saw <tok 1>")
    assert result.output.index("three") < len(result.output) - 2
    assert result.stdout.endswith("one two three\n") and "<tok" not in result.stdout


def test_several_images_go_into_one_prompt_in_order(monkeypatch, photos):
    fake = install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", str(photos[1]), str(photos[0]), "Compare them."])
    assert result.exit_code == 0, result.output
    (request,) = fake.requests
    assert [i.source for i in request.images] == [str(photos[1]), str(photos[0])]
    assert len(fake.engine.calls) == 1


def test_question_without_images(monkeypatch):
    fake = install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", "What is 2 + 2?"])
    assert result.exit_code == 0 and fake.requests[0].images == ()
    # `vlm ask $IMG 'q'` with IMG unset: answered without a picture, and said so
    assert result.stderr == "note: no image or video given; the model answers from the question alone.\n"


@pytest.mark.parametrize("command", [["ask", "", "What is this?"], ["describe", "", "x.png"]])
def test_an_empty_input_argument_is_named(monkeypatch, command):
    """`vlm ask "$IMG" 'q'` with IMG unset: "No such file: . If ' What is this?' is the question, quote it"."""
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    assert result.stderr == "Error: Input 1 is an empty argument (an unset shell variable?); name a file.\n"


def test_image_from_stdin(monkeypatch, photos):
    fake = install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", "-", "What is this?"], input=photos[0].read_bytes())
    assert result.exit_code == 0, result.output
    image = fake.requests[0].images[0]
    assert image.source == "-" and image.image.size == (512, 512)


def test_no_stream_prints_the_whole_answer_at_the_end(monkeypatch, photos):
    install_fake_engine(monkeypatch, trace_tokens_to_stderr=True)
    result = runner.invoke(app, ["ask", "--no-stream", str(photos[0]), "Hi there"])
    assert result.output.endswith("<tok 4>" + f"Saw {photos[0]}; asked: Hi there\n")


def test_json_output(monkeypatch, photos):
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", "--json", str(photos[0]), str(photos[1]), "Describe."])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert set(record) == {
        "text", "model", "inputs", "prompt_tokens", "visual_tokens", "completion_tokens",
        "finish_reason", "timings", "images", "videos", "truncated",
    }
    assert record["truncated"] is None
    assert record["model"] == DEFAULT_MODEL
    assert record["inputs"] == [str(photos[0]), str(photos[1])]
    assert record["visual_tokens"] == 128 and record["finish_reason"] == "stop"
    assert set(record["timings"]) == {"load_s", "vision_s", "prefill_s", "decode_s"}
    assert record["timings"]["load_s"] == 1.25  # engine.load_s fills in when the result has none
    assert record["images"][1] == {
        "path": str(photos[1]), "width": 451, "height": 300, "resized": [384, 384], "grid": [1, 1],
        "visual_tokens": 64,
    }
    assert result.stderr == ""


def test_max_tokens_truncates_and_reports_length(monkeypatch, photos):
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", "--json", "--max-tokens", "2", str(photos[0]), "Long question here"])
    record = json.loads(result.stdout)
    assert record["completion_tokens"] == 2 and record["finish_reason"] == "length"


def test_flags_reach_the_engine_and_generation_configs(monkeypatch, photos):
    fake = install_fake_engine(monkeypatch)
    args = [
        "ask", "-m", "org/model", "--revision", "v2", "--device", "CPU", "--dtype", "float32", "--offline",
        "--trust-remote-code", "--allow-pickle", "--max-tokens", "9", "--temperature", "0.7",
        "--top-p", "0.9", "--top-k", "5", "--seed", "3", "--system", "Be brief.", str(photos[0]), "Q?",
    ]
    assert runner.invoke(app, args).exit_code == 0
    config = fake.engine.config
    assert (config.model, config.revision, config.device, config.dtype) == ("org/model", "v2", Device.CPU, DType.FLOAT32)
    assert config.offline and config.trust_remote_code and config.allow_pickle
    (_, gen), = fake.engine.calls
    assert (gen.max_tokens, gen.temperature, gen.top_p, gen.top_k, gen.seed) == (9, 0.7, 0.9, 5, 3)
    assert fake.requests[0].system == "Be brief."


def test_safety_switches_are_off_by_default(monkeypatch, photos):
    fake = install_fake_engine(monkeypatch)
    runner.invoke(app, ["ask", str(photos[0]), "Q?"])
    assert not fake.engine.config.trust_remote_code and not fake.engine.config.allow_pickle
    assert fake.engine.calls[0][1].greedy


def test_debug_prints_stats_on_stderr(monkeypatch, photos):
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["ask", "--debug", str(photos[0]), "Q?"])
    assert result.stderr.startswith(f"[stats] {photos[0]}: prompt ")
    assert "[stats]" not in result.stdout


def test_answer_ending_in_newline_gets_no_extra_blank_line(monkeypatch, photos):
    install_fake_engine(monkeypatch, answer=lambda request: "Line one.\n")
    for flags in ([], ["--no-stream"]):
        assert runner.invoke(app, ["ask", *flags, str(photos[0]), "Q?"]).stdout == "Line one.\n"


def test_a_picture_saved_under_a_video_name_is_a_picture(monkeypatch, tmp_path):
    """A JPEG named `still.mp4` was read as a one-frame video (Pillow's animation reader)."""
    fake = install_fake_engine(monkeypatch)
    still = save_photo(tmp_path / "still.mp4", "coffee", format="JPEG")
    result = CliRunner().invoke(app, ["ask", str(still), "What is it?", "--json"])
    assert result.exit_code == 0, result.output
    (request,) = fake.engines[0].calls[0][0]
    assert len(request.images) == 1 and not request.videos
