"""Option groups: a frozen dataclass of Typer options added to a command as one argument.

Each field of the dataclass is declared as `Annotated[T, typer.Option(...)]`. Decorating a
command with `with_option_group(Cls, "param")` replaces its `param: Cls` parameter by the
fields, as keyword-only Typer parameters, and hands the command one `Cls` built from them:

    @with_option_group(VideoOptions, "video", helps={"max_frames": "Most frames per segment."})
    def summarize(video: VideoOptions, path: str) -> None: ...

Groups stack; `helps` gives one command its own help text for some fields. The groups
themselves live beside their commands (`options.CommonOptions`, `structured_options`,
`video_options`).
"""

from __future__ import annotations

import copy
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Annotated, TypeVar

import typer

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
