"""`CaptionJob`: everything one `vlm caption-dir` run needs, validated on construction."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmcli.captions.prompt_file import PromptSpec
from vlmcli.captions.shard import ShardSpec
from vlmcli.engine.config import EngineConfig, GenerationConfig
from vlmcli.errors import ConfigError
from vlmcli.inputs.options import DatasetInput
from vlmcli.structured.spec import Constraint

if TYPE_CHECKING:
    from vlmcli.video.sampling import SamplingOptions

VIDEO_MAX_SIDE = 768
"""Longest side of decoded video frames (as `vlm ask` / `video-summarize`)."""


class Backend(str, enum.Enum):
    LOCAL = "local"
    """This process: background decoding threads feed one engine."""
    RAY = "ray"
    """Ray Data: `--concurrency` actors, one engine each (pip install 'vlmcli[ray]')."""


@dataclass(frozen=True)
class VideoCaptioning:
    """`--videos`: video files are captioned too, from frames sampled like `vlm ask clip.mp4`."""

    method: str = "uniform"
    """A `SamplingMethod` name: uniform, keyframe or dynamic."""
    options: "SamplingOptions | None" = None
    """Frame count / rate / cap; None means the sampler defaults (`SamplingOptions()`)."""
    max_side: int = VIDEO_MAX_SIDE
    """Frames are decoded at most this many pixels on the long side."""

    def __post_init__(self) -> None:
        if self.max_side < 1:
            raise ConfigError(f"max_side must be >= 1, not {self.max_side}.")
        if not str(self.method).strip():
            raise ConfigError("A video sampling method is required.")

    def sampling(self) -> "SamplingOptions":
        from vlmcli.video.sampling import SamplingOptions

        return self.options if self.options is not None else SamplingOptions()

    def settings(self) -> dict[str, Any]:
        """What decides a video's frames, for the config hash."""
        options = self.sampling()
        return {
            "method": str(getattr(self.method, "value", self.method)),
            "frames": options.frames,
            "fps": options.fps,
            "max_frames": options.max_frames,
            "max_side": self.max_side,
        }


@dataclass(frozen=True)
class CaptionJob:
    engine: EngineConfig
    generation: GenerationConfig
    inputs: tuple[str, ...] = ()
    """Folders (walked recursively) and files."""
    globs: tuple[str, ...] = ()
    files_from: str | None = None
    """A file of paths (newline- or NUL-separated), or '-' for stdin."""
    prompts: tuple[PromptSpec, ...] = ()
    """One row per (image, prompt); empty means the default caption prompt. Plain strings are
    accepted (and become PromptSpecs); a PromptSpec may carry its own constraint."""
    system: str | None = None
    max_image_pixels: int | None = None
    batch_size: int = 0
    """Requests decoded together (decode slots under continuous batching, requests per engine
    call under static batching); 0 picks by device (8 on CPU, 32 on CUDA)."""
    static_batching: bool = False
    """Fixed batches that run until their longest caption ends (`--static-batching`) instead of
    continuous batching (`engine.scheduler`), the default where the family allows it."""
    max_batch_tokens: int = 0
    """Visual tokens per engine call; 0 picks by device (`batching.AUTO_MAX_BATCH_TOKENS`)."""
    videos: VideoCaptioning | None = None
    """Caption video files too (`--videos`); None skips them."""
    decode_threads: int = 2
    """Background threads that read and decode images (and probe files)."""
    prefetch_batches: int = 2
    """Decoded batches kept ready ahead of the model (bounds memory)."""
    shard: ShardSpec = field(default_factory=ShardSpec)
    backend: Backend = Backend.LOCAL
    concurrency: int = 1
    """Ray only: engine actors (one model each)."""
    exclude: Path | None = None
    """The output folder, never walked as input."""
    dataset: DatasetInput = field(default_factory=DatasetInput)
    """How dataset inputs (tar shards, Parquet, save_to_disk folders) are read."""
    debug: bool = False
    constraint: Constraint | None = None
    """What every answer must look like (--schema/--choice/--regex/--json-mode), unless its
    prompt carries its own (a prompt-file entry); None: free text."""
    schema_prompt: bool = True
    """State the constraint in each prompt (off: --no-schema-prompt)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "globs", tuple(self.globs))
        object.__setattr__(self, "prompts", tuple(p if isinstance(p, PromptSpec) else PromptSpec(p) for p in self.prompts))
        object.__setattr__(self, "backend", Backend(self.backend))
        if not (self.inputs or self.globs or self.files_from is not None):
            raise ConfigError("Nothing to caption: pass a folder or files, --glob PATTERN, or --files-from FILE.")
        if self.batch_size < 0:
            raise ConfigError(f"--batch-size must be >= 1 (or 0 for automatic), not {self.batch_size}.")
        if self.max_batch_tokens < 0:
            raise ConfigError(f"--max-batch-tokens must be >= 1 (or 0 for automatic), not {self.max_batch_tokens}.")
        if self.decode_threads < 1:
            raise ConfigError(f"--decode-threads must be >= 1, not {self.decode_threads}.")
        if self.prefetch_batches < 1:
            raise ConfigError(f"prefetch_batches must be >= 1, not {self.prefetch_batches}.")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be >= 1, not {self.concurrency}.")
        if self.concurrency > 1 and self.backend is Backend.LOCAL:
            raise ConfigError("--concurrency applies to --engine ray; the local engine runs one model.")
        if self.backend is Backend.RAY and self.engine.gpu is not None:
            raise ConfigError(
                f"--device cuda:{self.engine.gpu} names one GPU, but Ray gives each worker its own: "
                "use --device cuda (or pick the GPUs with CUDA_VISIBLE_DEVICES)."
            )
