"""Typed settings for loading a model and for generating with it.

Both dataclasses are frozen and validated on construction, so a bad value fails at
the edge (flag parsing) with a `ConfigError`, never deep inside a forward pass.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from vlmcli.errors import ConfigError
from vlmcli.quantize.mode import Quantize
from vlmcli.reduction.reducer import TokenReduction
from vlmcli.tiling.policy import ResolutionPolicy


class Device(str, enum.Enum):
    """Where the model runs. AUTO picks cuda, then mps, then cpu."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


_ONE_GPU = re.compile(r"cuda:(\d+)")


def parse_device(raw: object) -> "Device | str":
    """A --device value: a `Device`, or "cuda:N" (one GPU of several, by its CUDA number).
    ValueError names what is accepted."""
    text = str(getattr(raw, "value", raw)).strip().lower()
    if _ONE_GPU.fullmatch(text):
        return f"cuda:{int(text[5:])}"
    try:
        return Device(text)
    except ValueError:
        raise ValueError("one of auto, cpu, cuda, cuda:N (N: a GPU's number) or mps") from None


class DType(str, enum.Enum):
    """Weights and activations dtype. AUTO: bf16 on GPUs that support it, else the CPU default."""

    AUTO = "auto"
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"
    MIXED = "mixed"
    """float32 vision tower, bfloat16 language model (an experiment for memory-bound CPU decoding)."""


def _enum_value(enum_cls: type[enum.Enum], value: object, what: str) -> enum.Enum:
    try:
        return enum_cls(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum_cls)
        raise ConfigError(f"{what} must be one of {choices}, not {value!r}.") from None


@dataclass(frozen=True)
class EngineConfig:
    """How to find and load a model."""

    model: str
    """Hugging Face hub id (`org/name`) or a local folder."""
    revision: str | None = None
    """Hub branch, tag or commit; ignored for local folders."""
    device: Device = Device.AUTO
    """Given as a `Device`, or as its name; "cuda:N" sets `device` to CUDA and `gpu` to N."""
    gpu: int | None = None
    """Which CUDA GPU (its number, as `nvidia-smi` and CUDA_VISIBLE_DEVICES count); None: the first."""
    dtype: DType = DType.AUTO
    offline: bool = False
    """Never touch the network: resolve hub ids from the local cache only (like HF_HUB_OFFLINE=1)."""
    trust_remote_code: bool = False
    """Run Python code shipped with the model repo. Off unless asked for explicitly."""
    allow_pickle: bool = False
    """Accept pickled weights (.bin/.pt), which can run code when loaded. Off by default: safetensors only."""
    cache_dir: Path | None = None
    """Hub cache folder; default is transformers' own (HF_HOME / HF_HUB_CACHE)."""
    feature_cache_entries: int = 64
    """Vision features kept in memory (LRU), keyed by image content and preprocessing."""
    feature_cache_dir: Path | None = None
    """Optional on-disk vision-feature cache (safetensors files)."""
    resolution: ResolutionPolicy = field(default_factory=ResolutionPolicy)
    """How much of each image the model sees (--max-tiles/--max-pixels/--min-pixels)."""
    reduction: TokenReduction = field(default_factory=TokenReduction)
    """Visual-token reduction before the language model (--temporal-pool, --compress)."""
    truncate: bool = False
    """A prompt over the context length lowers the resolution until it fits (`engine.fit`)
    instead of failing; off by default, so nothing is ever lowered silently."""
    compile: bool = False
    """Run the decode steps through `torch.compile` (`engine.compiled`): faster steps for long
    jobs after minutes of compiling at the first requests; logits close to eager, not identical."""
    quantize: Quantize = Quantize.NONE
    """int8 linear layers on the CPU (`vlmcli.quantize`): faster vision and decode, answers close
    to float32, not identical."""

    def __post_init__(self) -> None:
        if not self.model or not str(self.model).strip():
            raise ConfigError("A model is required: pass --model or set VLM_MODEL.")
        try:
            device = parse_device(self.device)
        except ValueError as exc:
            raise ConfigError(f"device must be {exc}, not {self.device!r}.") from None
        if not isinstance(device, Device):  # "cuda:N"
            if self.gpu is not None and self.gpu != int(device[5:]):
                raise ConfigError(f"device {device!r} and gpu={self.gpu} disagree.")
            device, gpu = Device.CUDA, int(device[5:])
        else:
            gpu = self.gpu
        if gpu is not None and (device is not Device.CUDA or gpu < 0):
            raise ConfigError(f"A GPU number needs --device cuda and must be >= 0, not {device.value}:{gpu}.")
        object.__setattr__(self, "device", device)
        object.__setattr__(self, "gpu", gpu)
        object.__setattr__(self, "dtype", _enum_value(DType, self.dtype, "dtype"))
        object.__setattr__(self, "quantize", _enum_value(Quantize, self.quantize, "quantize"))
        if self.feature_cache_entries < 0:
            raise ConfigError("feature_cache_entries must be >= 0.")


MAX_SEED = 2**64 - 1
"""The largest seed torch's generators take (`manual_seed` wraps anything past 64 bits)."""


@dataclass(frozen=True)
class GenerationConfig:
    """How to decode. Defaults are greedy and reproducible."""

    max_tokens: int = 256
    """Most new tokens per request (finish_reason "length" when reached)."""
    temperature: float = 0.0
    """0 means greedy; > 0 samples from softmax(logits / temperature)."""
    top_p: float = 1.0
    """Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p."""
    top_k: int = 0
    """Keep only the k most likely tokens; 0 disables."""
    repetition_penalty: float | None = None
    """> 1 discourages tokens already in the prompt or output (CTRL-style, as transformers).
    None: the model's own (its generation_config.json's, as `model.generate` applies it even
    when greedy; 1.0 when it sets none), filled in by `Engine.with_model_defaults`."""
    seed: int | None = None
    """Seed for sampling; the same seed gives the same output."""
    stop: tuple[str, ...] = field(default_factory=tuple)
    """Stop strings: generation ends when the text contains one (it is cut from the text)."""
    ignore_eos: bool = False
    """Keep generating past end-of-sequence (benchmarks)."""

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, not {self.max_tokens}.")
        if not 0 <= self.temperature < math.inf:  # inf: every token equally likely (noise); nan: refused too
            raise ConfigError(f"temperature must be a number >= 0, not {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], not {self.top_p}.")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0, not {self.top_k}.")
        if self.repetition_penalty is not None and not 0 < self.repetition_penalty < math.inf:
            raise ConfigError(f"repetition_penalty must be > 0, not {self.repetition_penalty}.")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:  # torch takes 64 bits: larger ones wrapped
            raise ConfigError(f"seed must be between 0 and {MAX_SEED}, not {self.seed}.")
        object.__setattr__(self, "stop", tuple(s for s in self.stop if s))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def penalty(self) -> float:
        """The repetition penalty to apply (1.0: none; an unresolved None counts as none)."""
        return 1.0 if self.repetition_penalty is None else self.repetition_penalty
