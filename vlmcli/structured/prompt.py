"""The constraint stated in the prompt: models answer better when told the format they must follow.

The token mask guarantees the format either way; the sentence only helps the model put the
right content in it. `--no-schema-prompt` sends the prompt unchanged.
"""

from __future__ import annotations

from vlmcli.structured.spec import Constraint


def with_instruction(prompt: str, constraint: Constraint | None, *, state: bool = True) -> str:
    """`prompt` followed by the constraint's instruction on its own line (unchanged when `state` is off)."""
    if constraint is None or not state:
        return prompt
    instruction = constraint.instruction()
    return f"{prompt.rstrip()}\n{instruction}" if prompt.strip() else instruction
