"""A tokenizer that names more tokens than the model has embedding rows, refused at load.

Tokens added to a tokenizer (`tokenizer.add_tokens`, `add_special_tokens`) without
`model.resize_token_embeddings(len(tokenizer))` have ids past the embedding table: the
model loads, and the first prompt holding one failed as "unexpected IndexError: index out
of range in self" (on a GPU, a device-side assert that poisons the process). The sizes are
known the moment both are loaded, so that is where it is said, as a `ModelError` (exit 4).
A table larger than the tokenizer is normal (vocabularies are padded to a multiple of 64).
"""

from __future__ import annotations

from typing import Any

from vlmcli.errors import ModelError


def embedding_rows(model: Any) -> int | None:
    """Rows of the model's input embedding table, or None where it has no plain one."""
    try:
        embeddings = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    rows = getattr(embeddings, "num_embeddings", None)
    if rows is None and getattr(embeddings, "weight", None) is not None:
        rows = embeddings.weight.shape[0]
    return int(rows) if rows is not None else None


def check_tokenizer_fits(model: Any, processor: Any, model_id: str) -> None:
    """Refuse a tokenizer with ids the embedding table has no row for."""
    tokenizer = getattr(processor, "tokenizer", processor)
    rows = embedding_rows(model)
    try:
        size = len(tokenizer)
    except TypeError:
        return
    if rows is None or size <= rows:
        return
    extra = tokenizer.convert_ids_to_tokens(list(range(rows, min(size, rows + 3))))
    shown = ", ".join(map(repr, extra)) + (", ..." if size > rows + 3 else "")
    raise ModelError(
        f"{model_id}'s tokenizer has {size} tokens but its embeddings have {rows} rows: tokens were added to the "
        f"tokenizer ({shown}) and the model was not resized; resize it (model.resize_token_embeddings(len(tokenizer))), "
        "fine-tune the new rows and save both, or use the tokenizer it was trained with."
    )
