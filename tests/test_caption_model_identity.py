"""`caption-dir -m FOLDER`: the model is the folder's contents, not how its path was typed.

Found as a stranger would: the same model spelled `models/ref`, `/abs/models/ref/` and through a
symlink made three sets of hashes, so each rerun captioned every file again and the output held
every row three times. Now a folder is identified by a fingerprint of its settings and weights
(`captions/model_identity.py`); rows record its absolute path; rows written before keep
counting as done when the folder is spelled as it was then (the old hash is an alias).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.captions.model_identity import display_model, model_identity
from vlmcli.captions.plan import build_plan
from vlmcli.captions.prompts import config_hash, make_prompts, prompt_hashes
from vlmcli.captions.shard import ShardSpec
from vlmcli.cli import app
from vlmcli.sinks.base import ResumeState
from vlmcli.sinks.schema import RowId
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def model(tmp_path, tiny_checkpoint) -> Path:
    """A real tiny checkpoint at tmp/models/smol, with a README and a samples folder beside it."""
    folder = tmp_path / "models" / "smol"
    shutil.copytree(tiny_checkpoint("smolvlm"), folder)
    (folder / "README.md").write_text("# notes\n")
    return folder


def test_every_spelling_and_copy_of_a_folder_is_one_model(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink(model, tmp_path / "link")
    copy = shutil.copytree(model, tmp_path / "elsewhere" / "smol-copy")
    spellings = ["models/smol", "./models/smol/", str(model), "models/../models/smol", "link", str(copy)]
    assert len({model_identity(s) for s in spellings}) == 1
    assert model_identity("models/smol").startswith("folder:")
    assert display_model("link") == display_model("./models/smol/") == str(model.resolve())
    assert model_identity("HuggingFaceTB/SmolVLM2-256M-Video-Instruct") == "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"
    assert display_model("org/not-here") == "org/not-here"


def test_what_changes_the_answers_changes_the_identity(model):
    before = model_identity(str(model))
    (model / "README.md").write_text("# other notes\n")
    (model / "samples").mkdir()
    (model / "samples" / "x.png").write_bytes(b"\x89PNG")
    assert model_identity(str(model)) == before  # notes and samples are not the model
    template = model / "chat_template.jinja"
    template.write_text(template.read_text() + " ") if template.exists() else template.write_text("{{ x }}")
    changed = model_identity(str(model))
    assert changed != before  # what the model is shown
    weights = next(model.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # a retrained tensor at the end of the file
    weights.write_bytes(bytes(data))
    assert model_identity(str(model)) != changed


def test_prompts_keep_the_spelled_hash_as_an_alias(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = dict(revision=None, system=None, generation={"max_tokens": 8})
    (typed,) = make_prompts(["Describe."], model="models/smol", **settings)
    (absolute,) = make_prompts(["Describe."], model=str(model) + "/", **settings)
    assert typed.config_hash == absolute.config_hash
    old = config_hash(model="models/smol", prompt="Describe.", **settings)  # what earlier versions wrote
    assert typed.aliases == (old,) and prompt_hashes([typed]) == {typed.config_hash, old}
    (hub,) = make_prompts(["Describe."], model="org/name", **settings)
    assert hub.aliases == ()  # a hub id is its own identity

    from vlmcli.captions.probe import Probe

    probe = Probe(str(tmp_path / "a.jpg"), "k" * 64, (8, 8))
    done_before = ResumeState(done={RowId(probe.path, probe.key, old)})
    plan = build_plan([probe], [typed], shard=ShardSpec(), resume=done_before)
    assert plan.skipped == 1 and plan.tasks == []
    failed_before = ResumeState(failed={(probe.path, old): True})
    plan = build_plan([probe], [typed], shard=ShardSpec(), resume=failed_before)
    assert len(plan.tasks) == 1 and plan.retire == {(probe.path, old)}  # retried; the old error row goes


def caption(*args: str):
    result = runner.invoke(app, ["caption-dir", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_caption_dir_resumes_whatever_the_model_folder_is_called(model, tmp_path, monkeypatch):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for i, name in enumerate(("astronaut", "chelsea", "coffee")):
        save_photo(photos / f"{i}.jpg", name)
    os.symlink(model, tmp_path / "link")
    monkeypatch.chdir(tmp_path)
    fake = install_fake_engine(monkeypatch)
    assert caption(photos, "-o", out, "-m", "models/smol")["ok"] == 3
    assert len(fake.requests) == 3
    for cwd, spelling in [(tmp_path, "./models/smol/"), (photos, str(model)), (tmp_path, "link")]:
        monkeypatch.chdir(cwd)
        fake = install_fake_engine(monkeypatch)
        summary = caption(photos, "-o", out, "-m", spelling)
        assert (summary["ok"], summary["skipped"]) == (0, 3), spelling
        assert fake.engines == [] or fake.requests == [], spelling  # nothing captioned again

    import pyarrow.parquet as pq

    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 3 and max(Counter(r["path"] for r in rows).values()) == 1
    assert {r["model"] for r in rows} == {str(model.resolve())}
