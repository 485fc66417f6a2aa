"""The library's error hierarchy.

The library raises only these (plus programming errors); `vlmcli.commands` is the one
place that turns them into a one-line message and an exit code. Each class carries the
exit code the CLI uses for it, so the mapping lives beside the meaning.
"""

from __future__ import annotations


class VlmError(Exception):
    """Base of every error vlmcli raises on purpose. The message is one readable sentence."""

    exit_code: int = 1


class ConfigError(VlmError):
    """A setting or flag has an invalid value, or settings contradict each other."""

    exit_code = 2


class InputError(VlmError):
    """An input file is missing, unreadable, corrupt, too large, or not a supported medium."""

    exit_code = 3


class ModelError(VlmError):
    """A model cannot be found, loaded, or is not a vision-language model."""

    exit_code = 4


class ModelNotFoundError(ModelError):
    """No such hub id or folder (or, offline, not in the local cache)."""


class UnsupportedModelError(ModelError):
    """The model loads but its family is not one vlmcli supports."""


class UnsafeModelError(ModelError):
    """Loading would run remote code or unpickle weights without explicit permission."""


class ContextLengthError(VlmError):
    """The prompt (text plus visual tokens) does not fit in the model's context window."""

    exit_code = 5


class ResourceError(VlmError):
    """The device ran out of memory (or another resource) while running the model."""

    exit_code = 6


class BackendUnavailableError(VlmError):
    """An optional backend (ray, decord, ...) is not installed; the message says how to install it."""

    exit_code = 7


class VideoError(InputError):
    """A video cannot be decoded: corrupt, empty, audio-only, or an unsupported container."""


class OutputError(VlmError):
    """Results could not be written (disk full, permissions, unsafe path)."""

    exit_code = 8
