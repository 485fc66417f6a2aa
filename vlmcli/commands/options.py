"""Options shared by the commands that run a model (ask, describe, and later ones).

The options are declared once, as the fields of `CommonOptions`. Decorating a command
with `@with_common_options` adds them to its Typer signature and hands the command one
`opts: CommonOptions` argument instead of sixteen loose ones (`opts` may sit anywhere in the signature):

    @with_common_options
    def describe(opts: CommonOptions, inputs: Annotated[list[str], typer.Argument()]) -> None: ...

Settings-backed options default to None ("not given") so that the environment and the
config file can fill them in (`vlmcli.settings.resolve`); `settings()` does that.
"""

from __future__ import annotations

import copy
import functools
import inspect
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Optional, TypeVar

import typer

from vlmcli.engine.config import Device, DType, EngineConfig, GenerationConfig, parse_device
from vlmcli.quantize.mode import Quantize
from vlmcli.command_settings import CONSTRAINT_NAMES, CommandSettings
from vlmcli.errors import ConfigError, VlmError
from vlmcli.setting_values import Source
from vlmcli.settings import Settings, resolve
from vlmcli.structured.flags import constraint_from_flags
from vlmcli.structured.prompt import with_instruction
from vlmcli.structured.spec import Constraint
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


F = TypeVar("F", bound=Callable[..., object])


def _option_parameters(option_cls: type, helps: Mapping[str, str]) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(option_cls, include_extras=True)
    unknown = set(helps) - {f.name for f in fields(option_cls)}
    if unknown:
        raise TypeError(f"{option_cls.__name__} has no option {', '.join(sorted(unknown))}")
    return [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
            annotation=_with_help(hints[f.name], helps[f.name]) if f.name in helps else hints[f.name],
        )
        for f in fields(option_cls)
    ]


def _with_help(hint: object, help: str) -> object:
    """`Annotated[T, typer.Option(...)]` with the option's help replaced (a copy: the shared one is kept)."""
    base, *extras = typing.get_args(hint)
    infos = [copy.copy(extra) if isinstance(extra, typer.models.OptionInfo) else extra for extra in extras]
    for info in infos:
        if isinstance(info, typer.models.OptionInfo):
            info.help = help
    return Annotated[(base, *infos)]  # type: ignore[return-value]


def with_option_group(option_cls: type, param: str, *, helps: Mapping[str, str] | None = None) -> Callable[[F], F]:
    """A decorator replacing the command's `param: option_cls` parameter by the dataclass's fields.

    Decorators of different groups stack (e.g. `@with_common_options` over `@with_video_options`).
    `helps` maps field names to this command's own help for them (`--json` says what this
    command prints), in place of the shared text.
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func, eval_str=True)
        if param not in signature.parameters:
            raise TypeError(f"{func.__name__} needs a `{param}: {option_cls.__name__}` parameter")
        own = [p for p in signature.parameters.values() if p.name != param]
        shared = _option_parameters(option_cls, helps or {})
        names = [p.name for p in shared]

        @functools.wraps(func)
        def wrapper(*args: object, **kwargs: object) -> object:
            group = option_cls(**{name: kwargs.pop(name) for name in names if name in kwargs})
            return func(*args, **{param: group}, **kwargs)

        params = own + shared
        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]

    return decorate


with_common_options = with_option_group(CommonOptions, "opts")
"""Replace the command's `opts: CommonOptions` parameter by the shared options."""


def _structured(*decls: str, help: str, **kwargs: object) -> typer.models.OptionInfo:
    return _option("Structured answer", *decls, help=help, **kwargs)


@dataclass(frozen=True)
class StructuredOptions:
    """What the answer must look like, guaranteed by a token mask (`vlmcli.structured`); one kind at most."""

    schema: Annotated[
        Optional[str],
        _structured(
            "--schema",
            metavar="FILE_OR_JSON",
            help="Answer with JSON matching this JSON Schema (a file, or inline JSON starting with '{'). "
            "Objects allow only the properties listed. Needs vlmcli[structured].",
        ),
    ] = None
    choice: Annotated[
        Optional[list[str]],
        _structured("--choice", metavar="TEXT", help="Answer with exactly one of these (repeat the flag per option)."),
    ] = None
    regex: Annotated[
        Optional[str], _structured("--regex", metavar="PATTERN", help="Answer with text matching this regular expression.")
    ] = None
    json_mode: Annotated[bool, _structured("--json-mode", help="Answer with any valid JSON object.")] = False
    schema_prompt: Annotated[
        Optional[bool],
        _structured(
            "--schema-prompt/--no-schema-prompt",
            help="State the schema/choices/pattern in the prompt, on its own line (the mask applies either way). "
            "[default: on; config.toml per command]",
        ),
    ] = None
    no_constraint: Annotated[
        bool,
        _structured(
            "--no-constraint",
            help="No command-wide constraint, whatever the config file's table for this command sets "
            "(caption-dir prompt-file entries keep their own).",
        ),
    ] = False

    def given(self) -> bool:
        """True when a constraint flag is on the command line (it then replaces the config file's)."""
        return self.schema is not None or bool(self.choice) or self.regex is not None or self.json_mode

    def answer(self, settings: Settings, *, command: str) -> StructuredAnswer:
        """The constraint and prompt statement for `command`: its flags over its `[command]` table in
        the config file (`vlmcli.command_settings`). A constraint flag replaces the file's constraint
        whatever its kind. Fails (exit 7) here, before any model loads, when the grammar engine of the
        structured extra is missing."""
        table = settings.commands[command]
        if self.no_constraint and self.given():
            raise ConfigError("--no-constraint cannot be combined with --schema, --choice, --regex or --json-mode.")
        if self.no_constraint:
            constraint = None
        elif self.given() or not table.from_file(CONSTRAINT_NAMES):
            constraint = constraint_from_flags(
                schema=self.schema, choices=self.choice, regex=self.regex, json_mode=self.json_mode
            )
        else:
            constraint = _file_constraint(table, where=f"[{command}] of config file {settings.config_file}")
        if constraint is not None:
            from vlmcli.structured.backend import check_available

            check_available()
            warn_checked_after(constraint)
        state = table.values["schema_prompt"] if self.schema_prompt is None else self.schema_prompt
        return StructuredAnswer(constraint=constraint, state=bool(state))


@dataclass(frozen=True)
class StructuredAnswer:
    """What a command's answers must look like, resolved from flags and the config file."""

    constraint: Constraint | None
    state: bool
    """State the constraint in the prompt (--schema-prompt, the default)."""

    def prompt(self, text: str, constraint: Constraint | None = None) -> str:
        """`text` with `constraint` (default: this one) stated in it, unless --no-schema-prompt."""
        return with_instruction(text, self.constraint if constraint is None else constraint, state=self.state)


def warn_checked_after(constraint: Constraint | None) -> None:
    """One `warning:` line at setup naming the keywords the grammar leaves to the check after generation
    (caption-dir calls it for each prompt-file constraint too)."""
    from vlmcli.structured.verdict import checked_after_note

    note = checked_after_note(constraint)
    if note is not None:
        sys.stderr.write(f"warning: {note}\n")


def _file_constraint(table: CommandSettings, *, where: str) -> Constraint | None:
    """The constraint a command's config table sets; its errors name the table."""
    values = table.values
    try:
        return constraint_from_flags(
            schema=values.get("schema"),  # type: ignore[arg-type]
            choices=list(values.get("choice") or ()),  # type: ignore[call-overload]
            regex=values.get("regex"),  # type: ignore[arg-type]
            json_mode=bool(values.get("json_mode")),
        )
    except VlmError as exc:
        raise type(exc)(f"In {where}: {exc}") from None


with_structured_options = with_option_group(StructuredOptions, "structured")
"""Replace the command's `structured: StructuredOptions` parameter by the structured-answer flags."""
