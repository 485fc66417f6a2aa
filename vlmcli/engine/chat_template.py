"""The chat template a model folder needs, checked before any weights load.

Every family but PaliGemma builds its prompts with the processor's chat template. A folder
without one (saved by an old transformers, or copied without `chat_template.jinja`) failed
after the weights loaded, with transformers' "Cannot use apply_chat_template because this
processor does not have a chat template" as exit 1, once per input; a truncated template
failed as "unexpected TemplateSyntaxError". Now both are one line naming the file, exit 4,
in milliseconds. A template kept only in `tokenizer_config.json` (how older transformers
saved it) is found there and given to the processor (`adopt_tokenizer_template`), as is the
"default" of a list of named templates (`[{"name": "default", "template": ...}]`).

A template that parses can still place no image: a text-only template (one that renders a
message's `content` as plain text) turned every picture into nothing, and the processor
then failed with "unexpected ValueError: ... Found total 0" per input. Once the processor is
loaded, one probe message with an image is rendered (`check_places_image`); a template whose
output holds no image placeholder is one line, exit 4, before any input is read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlmcli.engine.readable import permission_message
from vlmcli.errors import ModelError

TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")
CONFIG_FILES = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json")
"""JSON files that may hold the template under a `chat_template` key."""


def check_chat_template(folder: Path, model: str) -> None:
    """Refuse a folder whose chat template is missing or will not parse."""
    found = _find(folder)
    if found is not None:
        _parse(*found, model)
        return
    raise ModelError(
        f"{model} has no chat template (a {TEMPLATE_FILES[0]} file, or a chat_template in processor_config.json "
        "or tokenizer_config.json); "
        "copy chat_template.jinja from the model it was made from, or save that model's processor into the folder: "
        "AutoProcessor.from_pretrained(BASE).save_pretrained(FOLDER)."
    )


def has_chat_template(folder: Path) -> bool:
    """Whether `folder` holds a chat template (not checked to parse)."""
    return _find(folder) is not None


def _find(folder: Path) -> tuple[str, Path] | None:
    """(the template, the file it is in): `chat_template.jinja`, else the first JSON file
    holding one; None when there is none."""
    jinja = folder / TEMPLATE_FILES[0]
    try:
        if jinja.is_file():
            return jinja.read_text(encoding="utf-8", errors="replace"), jinja
    except PermissionError:  # was "unexpected PermissionError" (the loader's `check_readable` names it first)
        raise ModelError(permission_message(jinja)) from None
    for name in (TEMPLATE_FILES[1], *CONFIG_FILES):
        if (template := _template_in(folder / name)) is not None:
            return template, folder / name
    return None


def adopt_tokenizer_template(processor: Any) -> None:
    """A processor without a template takes its tokenizer's (a template saved in
    tokenizer_config.json only, by older transformers; of named templates, the "default"),
    so `apply_chat_template` works."""
    tokenizer = getattr(processor, "tokenizer", None)
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):  # transformers keeps a list of named templates as {name: template}
        template = template.get("default")
    if isinstance(template, list):
        template = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}.get("default")
    if not getattr(processor, "chat_template", None) and isinstance(template, str):
        processor.chat_template = template


PROBE = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}]
"""One user turn with a picture, as the adapters build it (`Adapter.messages`)."""


def check_places_image(processor: Any, model: str) -> None:
    """Refuse a chat template that renders a picture as no image placeholder (a text-only
    template), or that fails on a message with a picture."""
    token = getattr(processor, "image_token", None)
    if not getattr(processor, "chat_template", None) or not isinstance(token, str) or not token:
        return
    try:
        text = processor.apply_chat_template(PROBE, add_generation_prompt=True, tokenize=False)
    except Exception as exc:  # jinja's errors, or the template's own raise_exception
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(
            f"{model}: its chat template fails on a message with a picture ({first}); copy chat_template.jinja "
            "from the vision-language model it was made from."
        ) from None
    if token not in text:
        raise ModelError(
            f"{model}: its chat template places no image (a message with a picture renders without {token}): it is "
            "a text-only template; copy chat_template.jinja from the vision-language model it was made from."
        )


def _template_in(path: Path) -> str | None:
    """The `chat_template` text a JSON file holds (a string; a list of named templates gives
    its "default"), or None."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a broken JSON file is reported by the loader, naming it
    template = data.get("chat_template") if isinstance(data, dict) else None
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    return template if isinstance(template, str) and template.strip() else None


def _parse(text: str, path: Path, model: str) -> None:
    """Compile the template as transformers will (its `{% generation %}` tag and loop controls)."""
    import jinja2
    from transformers.utils.chat_template_utils import _compile_jinja_template

    try:
        _compile_jinja_template(text)
    except jinja2.TemplateSyntaxError as exc:
        raise ModelError(
            f"{model}: its chat template {path.name} does not parse (line {exc.lineno}: {exc.message}); "
            "it may be cut short: copy it again from the model it was made from."
        ) from None
