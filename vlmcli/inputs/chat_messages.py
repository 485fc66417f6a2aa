"""Pictures inside chat messages: the records of OpenAI's chat, vision fine-tuning and Batch
API files, and of Qwen-style (qwen-vl-utils, LLaMA-Factory) conversations, hold no image
field; their pictures are content parts of the messages:

    {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,..."}},   # OpenAI chat
        {"type": "input_image", "image_url": "https://..."},                          # OpenAI Responses
        {"type": "image", "image": "file:///data/cup.jpg"},                           # Qwen
        {"type": "text", "text": "What is this?"}]}]}

A Batch API line keeps them under `body.messages`. `message_images` lists a record's
pictures in order (a data: URI, a URL, which is never fetched, or a path; `file://` is a
path); a part with no picture in it (`{"type": "image"}` of a record whose pictures are
in its `images` field) is not one. Pure.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlparse

MESSAGE_IMAGES = "__message_images__"
"""The column a record's message pictures are read from (`json_shard.py`)."""


def message_images(record: dict[str, Any]) -> list[str] | None:
    """The pictures of a record's messages, in order; None when it has no chat messages."""
    messages = record.get("messages")
    if messages is None and isinstance(record.get("body"), dict):
        messages = record["body"].get("messages")  # a Batch API request line
    if not isinstance(messages, list):
        return None
    found: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else ():
            picture = _picture(part) if isinstance(part, dict) else None
            if picture:
                found.append(picture)
    return found


def _picture(part: dict[str, Any]) -> str | None:
    kind = part.get("type")
    if kind == "image_url":
        value = part.get("image_url")
        value = value.get("url") if isinstance(value, dict) else value
    elif kind == "input_image":
        value = part.get("image_url")
    elif kind == "image":
        value = part.get("image") or part.get("url") or part.get("path")
    else:
        return None
    if not isinstance(value, str):
        return None
    return unquote(urlparse(value).path) if value.lower().startswith("file://") else value
