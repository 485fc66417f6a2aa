"""What a training run writes into a checkpoint folder besides (or instead of) a model's weights.

transformers' Trainer saves into each `checkpoint-N/` its own state: `training_args.bin`,
`optimizer.pt`, `scheduler.pt`, `scaler.pt`, `rng_state*.pth` (and `trainer_state.json`);
accelerate's `save_state` writes `random_states_*.pkl`, `optimizer*.bin`, `scheduler*.bin`.
Those are pickles but not weights: calling them "pickled weights" and suggesting
`--allow-pickle` sent users to a load that then failed anyway.

Two trainers leave the model itself in a form transformers cannot read:
- DeepSpeed ZeRO: a `latest` file naming `global_stepN/`, which holds
  `mp_rank_00_model_states.pt` and the optimizer partitions; `zero_to_fp32.py` beside them
  consolidates the weights.
- FSDP with sharded state dicts: `pytorch_model_fsdp_0/` of `*.distcp` shards;
  `accelerate merge-weights` consolidates them.
Pure file checks; nothing here unpickles anything.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

STATE_PATTERNS = (
    "training_args.bin", "rng_state*.pth", "random_states_*.pkl",
    *(f"{part}*.{ext}" for part in ("optimizer", "scheduler", "scaler") for ext in ("pt", "bin", "pth")),
)
"""Trainer/accelerate state files, as glob patterns (also what a hub download skips: `source.IGNORED`)."""


def is_training_state(name: str) -> bool:
    """Whether a file name is a Trainer/accelerate state file, not model weights."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in STATE_PATTERNS)


def training_state(folder: Path) -> list[str]:
    """The Trainer/accelerate state files at the top of `folder`, sorted."""
    try:
        return sorted(p.name for p in folder.iterdir() if p.is_file() and is_training_state(p.name))
    except OSError:
        return []


def zero_steps(folder: Path) -> list[str]:
    """DeepSpeed ZeRO step folders (`global_step500/`) in `folder`, the one `latest` names first."""
    steps = sorted(p.name for p in folder.glob("global_step*") if p.is_dir() and any(p.glob("*model_states.pt")))
    try:
        latest = (folder / "latest").read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        latest = ""
    return sorted(steps, key=lambda name: name != latest)


def fsdp_shards(folder: Path) -> list[str]:
    """FSDP sharded-state-dict weight folders (`pytorch_model_fsdp_0/` of `*.distcp`) in `folder`."""
    return sorted(p.name for p in folder.glob("pytorch_model_fsdp*") if p.is_dir() and any(p.glob("*.distcp")))


def no_weights_reason(folder: Path, model: str) -> str | None:
    """The sentence for a folder whose only model-like files are a training run's (a ZeRO or
    FSDP checkpoint says how to consolidate it); None when `folder` holds none of those."""
    state, zero, fsdp = training_state(folder), zero_steps(folder), fsdp_shards(folder)
    if not (state or zero or fsdp):
        return None
    names = ", ".join(state[:3]) + (", ..." if len(state) > 3 else "")
    held = f"Trainer state ({names})" if state else "a training checkpoint"
    if zero:
        script = folder / "zero_to_fp32.py"
        run = f"python {script} {folder} OUT --safe_serialization" if script.is_file() else "DeepSpeed's zero_to_fp32.py"
        return (
            f"{model} holds {held} and a DeepSpeed ZeRO checkpoint ({zero[0]}/) but no model weights; consolidate "
            f"them with `{run}`, copy config.json and the processor files into OUT, and pass OUT."
        )
    if fsdp:
        return (
            f"{model} holds {held} and FSDP weight shards ({fsdp[0]}/*.distcp) but no model weights; consolidate "
            f"them with `accelerate merge-weights {folder / fsdp[0]} OUT`, copy config.json and the processor "
            "files into OUT, and pass OUT."
        )
    return (
        f"{model} holds {held} but no model weights (*.safetensors): Trainer state is not a model; pass a folder "
        "the model was saved into (trainer.save_model or model.save_pretrained)."
    )
