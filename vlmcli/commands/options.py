"""Options shared by the commands that run a model (ask, describe, and later ones).

The options are declared once, as the fields of `CommonOptions`. Decorating a command
with `@with_common_options` adds them to its Typer signature and hands the command one
`opts: CommonOptions` argument instead of sixteen loose ones (`opts` may sit anywhere in the signature):

    @with_common_options
    def describe(opts: CommonOptions, inputs: Annotated[list[str], typer.Argument()]) -> None: ...

Settings-backed options default to None ("not given") so that the environment and the
config file can fill them in (`vlmcli.settings.resolve`); `settings()` does that.

How a dataclass of options becomes Typer parameters: `option_groups.py`. The
structured-answer flags (--schema, --choice, ...): `structured_options.py`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from vlmcli.commands.option_groups import with_option_group
from vlmcli.engine.config import Device, DType, EngineConfig, GenerationConfig, parse_device
from vlmcli.quantize.mode import Quantize
from vlmcli.errors import ConfigError
from vlmcli.setting_values import Source
from vlmcli.settings import Settings, resolve
from vlmcli.tiling.policy import ResolutionPolicy


def _option(panel: str, *decls: str, help: str, **kwargs: object) -> typer.models.OptionInfo:
    return typer.Option(*decls, help=help, rich_help_panel=panel, show_default=False, **kwargs)


def _model(*decls: str, help: str, **kwargs: object) -> typer.models.OptionInfo:
    return _option("Model", *decls, help=help, **kwargs)


def _generation(*decls: str, help: str, **kwargs: object) -> typer.models.OptionInfo:
    return _option("Generation", *decls, help=help, **kwargs)


def _output(*decls: str, help: str) -> typer.models.OptionInfo:
    return _option("Output", *decls, help=help)


def _resolution(*decls: str, help: str, **kwargs: object) -> typer.models.OptionInfo:
    return _option("Resolution", *decls, help=help, **kwargs)


INPUT_HELP = (
    "Image, video or PDF files; a dataset item as <shard>::<key>, the path caption-dir's rows give it "
    "(shards/00042.tar::000420031); or - for image bytes on stdin."
)
"""The INPUT argument of `ask` and `describe`."""

SETTING_FLAGS = ("model", "revision", "device", "dtype", "quantize", "offline", "max_tokens", "temperature", "top_p", "top_k", "seed")
"""Options that are also settings: None means "not given", so env / config file / default apply."""


def _device_flag(value: str | None) -> "Device | str | None":
    if value is None:
        return None
    try:
        return parse_device(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not {exc}.") from None


@dataclass(frozen=True)
class CommonOptions:
    # Optional[...] rather than `X | None`: Typer evaluates these at runtime, also on 3.10.
    model: Annotated[
        Optional[str], _model("--model", "-m", help="Hub id or local folder. [default: $VLM_MODEL, config file, built-in]")
    ] = None
    revision: Annotated[Optional[str], _model(help="Hub branch, tag or commit.")] = None
    device: Annotated[
        Optional[str],
        _model(help="Where to run; cuda:N picks one GPU of several. [default: auto]",
               metavar="[auto|cpu|cuda|cuda:N|mps]", callback=_device_flag),
    ] = None
    dtype: Annotated[Optional[DType], _model(help="Weights dtype. [default: auto]", case_sensitive=False)] = None
    quantize: Annotated[
        Optional[Quantize],
        _model(
            help="int8 linear layers on the CPU: faster vision and decode, answers close to (not identical "
            "with) float32. [default: none]",
            case_sensitive=False,
        ),
    ] = None
    offline: Annotated[
        Optional[bool], _model("--offline/--online", help="Use only the local hub cache (never the network).")
    ] = None
    trust_remote_code: Annotated[
        bool, _model("--trust-remote-code", help="Allow running Python code shipped with the model repo.")
    ] = False
    allow_pickle: Annotated[
        bool, _model("--allow-pickle", help="Allow pickled .bin/.pt weights (can run code when loaded).")
    ] = False
    compile: Annotated[
        bool,
        _model(
            "--compile",
            help="Compile the decode step (torch.compile): faster tokens on long jobs after minutes of "
            "compiling at the start; answers close to, not bit-identical with, the default.",
        ),
    ] = False
    max_tokens: Annotated[Optional[int], _generation(help="Most new tokens per answer. [default: 256]", min=1)] = None
    temperature: Annotated[Optional[float], _generation(help="0 is greedy (reproducible). [default: 0]", min=0.0)] = None
    top_p: Annotated[Optional[float], _generation(help="Nucleus sampling threshold in (0, 1].")] = None
    top_k: Annotated[Optional[int], _generation(help="Sample among the k most likely tokens; 0 disables.", min=0)] = None
    seed: Annotated[Optional[int], _generation(help="Seed for sampling.")] = None
    system: Annotated[Optional[str], _generation(help="System message placed before the question.")] = None
    max_tiles: Annotated[
        Optional[int],
        _resolution(
            help="Most full-resolution tiles per image (same meaning for every model); a cap on the model's "
            "default, never a raise.",
            min=1,
        ),
    ] = None
    max_pixels: Annotated[
        Optional[int],
        _resolution(
            help="Most pixels of each image the model sees, a cap on the model's default, never a raise. Qwen: "
            "the resized size; tiled models: every view the vision encoder gets, the global/base/thumbnail view "
            "included (a cap below a model's least, e.g. one crop and its global view, is an error).",
            min=1,
        ),
    ] = None
    min_pixels: Annotated[
        Optional[int],
        _resolution(
            help="Fewest pixels of each image the model sees (the image content, upscaled keeping its shape, on "
            "the grid with the fewest tiles): also beyond the model's default (more tokens; --dry-run shows the "
            "size); a value below the default changes nothing (--max-pixels spends fewer tokens). Must not exceed "
            "--max-pixels.",
            min=1,
        ),
    ] = None
    truncate: Annotated[
        bool,
        _resolution(
            "--truncate",
            help="If a prompt plus --max-tokens is over the model's context, lower --max-pixels until it fits "
            "(warned on stderr, reported in --json) instead of failing (exit 5); text is never cut.",
        ),
    ] = False
    dry_run: Annotated[
        bool,
        _output(
            "--dry-run",
            help="Print the plan (resolution, tiles, visual tokens) and stop.",  # each command says more (`helps`)
        ),
    ] = False
    no_stream: Annotated[
        bool,
        _output(
            "--no-stream", help="Print answers only when complete, not token by token."
        ),
    ] = False
    json: Annotated[
        bool,
        _output(
            "--json",
            help="Print JSON on stdout instead of text.",
        ),
    ] = False
    debug: Annotated[bool, _output("--debug", help="Show tracebacks and timings on stderr.")] = False

    def settings(self) -> Settings:
        """Flags merged with environment, config file and defaults."""
        flags = {name: getattr(self, name) for name in SETTING_FLAGS}
        return resolve(flags, flag_names={"model": "--model", "offline": "--offline/--online"})

    def device_asked(self, settings: Settings) -> str | None:
        """The device setting as written, for `_runtime.check_model` to check now; None for a
        dry run (it plans for the device without using it: a laptop may plan a GPU job)."""
        return None if self.dry_run else settings.spelled("device")

    def engine_config(self, settings: Settings) -> EngineConfig:
        _check_revision(settings)
        return EngineConfig(
            model=settings.model,
            revision=settings.revision,
            device=settings.device,
            dtype=settings.dtype,
            quantize=settings.quantize,
            offline=settings.offline,
            trust_remote_code=self.trust_remote_code,
            allow_pickle=self.allow_pickle,
            resolution=self.resolution(),
            truncate=self.truncate,
            compile=self.compile,
        )

    def resolution(self) -> ResolutionPolicy:
        return ResolutionPolicy(max_tiles=self.max_tiles, max_pixels=self.max_pixels, min_pixels=self.min_pixels)

    @staticmethod
    def generation_config(settings: Settings, *, note: bool = True) -> GenerationConfig:
        """The validated generation settings; `note`: say now that sampling flags do nothing under
        greedy decoding (False: the command calls `note_unused_sampling` once the model is checked,
        so a typo in -m stays the one line printed)."""
        try:
            gen = GenerationConfig(
                max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                top_p=settings.top_p,
                top_k=settings.top_k,
                seed=settings.seed,
            )
        except ConfigError as exc:  # "max_tokens must be ...": say where a value outside the command line came from
            origin = settings.origins.get(str(exc).split(" ", 1)[0])
            where = f" (from ${origin.detail})" if origin and origin.source is Source.ENV else ""
            where = f" (from {origin.detail})" if origin and origin.source is Source.FILE else where
            raise ConfigError(f"{str(exc).rstrip('.')}{where}.") from None
        if note:
            note_unused_sampling(settings)  # a value that is refused is the one line said
        return gen


def _check_revision(settings: Settings) -> None:
    """`--revision` typed with a local model folder would be ignored (a folder has one version):
    refuse it. From $VLM_REVISION or the config file it stays a default for hub models."""
    if settings.revision is None or settings.origins["revision"].source is not Source.FLAG:
        return
    if Path(settings.model).expanduser().is_dir():
        raise ConfigError(
            f"--revision {settings.revision} picks a version of a hub model, but {settings.model} is a local "
            "folder (one version): drop --revision, or name the model by its hub id."
        )


def note_unused_sampling(settings: Settings) -> None:
    """Sampling flags typed with greedy decoding (temperature 0, the default) do nothing: say so."""
    if settings.temperature != 0:
        return
    typed = [
        f"--{name.replace('_', '-')}"
        for name in ("top_p", "top_k", "seed")
        if settings.origins[name].source is Source.FLAG
    ]
    if typed:
        sys.stderr.write(
            f"note: {', '.join(typed)} {'has' if len(typed) == 1 else 'have'} no effect with greedy decoding "
            "(--temperature 0, the default); add e.g. --temperature 0.7 to sample.\n"
        )


with_common_options = with_option_group(CommonOptions, "opts")
"""Replace the command's `opts: CommonOptions` parameter by the shared options."""
