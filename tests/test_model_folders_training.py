"""Folders a training run writes: Trainer state, DeepSpeed ZeRO and FSDP checkpoints, LoRA adapters.

Trainer state files (training_args.bin, optimizer.pt, rng_state.pth ...) were called
"pickled weights" with a hint to pass --allow-pickle; a LoRA adapter with the base's
config.json copied beside it was "a weights file is missing ... an interrupted download"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine.source import check_weights_safety
from vlmcli.errors import ModelError, UnsafeModelError
from vlmcli.testing.fakes import isolate_env, save_photo

runner = CliRunner()
TRAINER_STATE = ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state_0.pth", "rng_state_1.pth")


@pytest.fixture
def photo(monkeypatch, tmp_path) -> Path:
    isolate_env(monkeypatch, tmp_path)
    return save_photo(tmp_path / "cat.png")


def ask(folder: Path, photo: Path, *extra: str):
    return runner.invoke(app, ["ask", "-m", str(folder), "--device", "cpu", "--max-tokens", "2", *extra, str(photo), "What?"])


def error_line(result) -> str:
    assert result.exit_code == ModelError.exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def trainer_checkpoint(src: Path, dst: Path, *, weights: bool) -> Path:
    """A Trainer `checkpoint-N/`: the model's config and processor, its state files, and its
    weights or not (a run that saved only state)."""
    shutil.copytree(src, dst)
    if not weights:
        (dst / "model.safetensors").unlink()
    for name in TRAINER_STATE:
        (dst / name).write_bytes(b"\x80\x04N.")  # a pickle of None
    (dst / "trainer_state.json").write_text(json.dumps({"global_step": 500}))
    return dst


def test_trainer_state_alone_is_not_pickled_weights(tiny_checkpoint, tmp_path, photo):
    folder = trainer_checkpoint(tiny_checkpoint("idefics3"), tmp_path / "checkpoint-500", weights=False)
    for extra in ([], ["--allow-pickle"]):
        line = error_line(ask(folder, photo, *extra))
        assert "holds Trainer state (optimizer.pt, rng_state_0.pth, rng_state_1.pth, ...) but no model weights" in line
        assert "--allow-pickle" not in line and "pickled" not in line
        assert "trainer.save_model or model.save_pretrained" in line


def test_a_trainer_checkpoint_with_its_weights_loads(tiny_checkpoint, tmp_path, photo):
    folder = trainer_checkpoint(tiny_checkpoint("idefics3"), tmp_path / "checkpoint-500", weights=True)
    result = ask(folder, photo)
    assert result.exit_code == 0, result.output


def test_pickled_weights_beside_trainer_state_still_need_allow_pickle(tmp_path):
    for name in (*TRAINER_STATE, "pytorch_model.bin"):
        (tmp_path / name).write_bytes(b"\x80\x04N.")
    with pytest.raises(UnsafeModelError) as caught:
        check_weights_safety(tmp_path, allow_pickle=False)
    assert "has only pickled weights (pytorch_model.bin), which can run code" in str(caught.value)


def test_a_deepspeed_zero_checkpoint_says_to_run_zero_to_fp32(tiny_checkpoint, tmp_path, photo):
    """ZeRO-3 without gathered weights: `latest`, global_step500/, and a model.safetensors of no tensors."""
    from safetensors.torch import save_file

    folder = trainer_checkpoint(tiny_checkpoint("idefics3"), tmp_path / "checkpoint-500", weights=False)
    save_file({}, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "latest").write_text("global_step500")
    (folder / "zero_to_fp32.py").write_text("# DeepSpeed's script\n")
    step = folder / "global_step500"
    step.mkdir()
    for name in ("mp_rank_00_model_states.pt", "zero_pp_rank_0_mp_rank_00_optim_states.pt"):
        (step / name).write_bytes(b"\x80\x04N.")
    line = error_line(ask(folder, photo))
    assert "and a DeepSpeed ZeRO checkpoint (global_step500/) but no model weights" in line
    assert f"`python {folder / 'zero_to_fp32.py'} {folder} OUT --safe_serialization`" in line
    assert "copy config.json and the processor files into OUT, and pass OUT" in line


def test_an_fsdp_sharded_checkpoint_says_to_merge_it(tmp_path, photo):
    """accelerate's FSDP SHARDED_STATE_DICT save: no config.json at all."""
    folder = tmp_path / "checkpoint-1000"
    (folder / "pytorch_model_fsdp_0").mkdir(parents=True)
    (folder / "pytorch_model_fsdp_0" / "__0_0.distcp").write_bytes(b"\0" * 64)
    (folder / "pytorch_model_fsdp_0" / ".metadata").write_bytes(b"\0" * 16)
    (folder / "optimizer_0").mkdir()
    (folder / "scheduler.bin").write_bytes(b"\x80\x04N.")
    (folder / "random_states_0.pkl").write_bytes(b"\x80\x04N.")
    line = error_line(ask(folder, photo))
    assert "holds Trainer state (random_states_0.pkl, scheduler.bin) and FSDP weight shards (pytorch_model_fsdp_0/*.distcp)" in line
    assert f"`accelerate merge-weights {folder / 'pytorch_model_fsdp_0'} OUT`" in line


def lora_adapter(dst: Path, base: str = "HuggingFaceTB/SmolVLM-256M-Instruct") -> Path:
    dst.mkdir(parents=True)
    (dst / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base, "peft_type": "LORA", "r": 8}))
    from safetensors.torch import save_file
    import torch

    save_file({"base_model.model.lm_head.lora_A.weight": torch.zeros(8, 64)}, dst / "adapter_model.safetensors")
    return dst


def test_an_adapter_with_a_copied_config_is_called_an_adapter(tiny_checkpoint, tmp_path, photo):
    folder = lora_adapter(tmp_path / "lora")
    base = tiny_checkpoint("idefics3")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "processor_config.json", "chat_template.jinja"):
        shutil.copy(base / name, folder / name)
    for extra in ([], ["--dry-run"]):
        line = error_line(ask(folder, photo, *extra))
        assert "is a PEFT/LoRA adapter (adapter_config.json, base model HuggingFaceTB/SmolVLM-256M-Instruct)" in line
        assert "merge_and_unload()" in line and "interrupted download" not in line


def test_an_adapter_beside_a_merged_model_loads_the_model(tiny_checkpoint, tmp_path, photo):
    folder = tmp_path / "merged"
    shutil.copytree(tiny_checkpoint("idefics3"), folder)
    shutil.copytree(lora_adapter(tmp_path / "lora"), folder, dirs_exist_ok=True)
    assert ask(folder, photo).exit_code == 0


def test_a_run_of_adapter_checkpoints_names_them(tmp_path, photo):
    run = tmp_path / "lora-run"
    for step in (500, 1000, 1500, 2000):
        lora_adapter(run / f"checkpoint-{step}")
    (run / "runs").mkdir()
    line = error_line(ask(run, photo))
    assert "it holds PEFT/LoRA adapter checkpoints (checkpoint-1000, checkpoint-1500, checkpoint-2000, ...; " in line
    assert "base model HuggingFaceTB/SmolVLM-256M-Instruct): merge one into its base" in line
    assert line.endswith(f"e.g. from {run / 'checkpoint-2000'}.")
