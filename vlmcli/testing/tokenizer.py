"""A small byte-level BPE tokenizer trained offline, with a family's real special tokens.

Why: tests need a tokenizer that behaves like a hub one (special tokens that never split,
BOS handling, left padding, ids that the model config refers to) without any download.
Byte-level BPE (GPT-2 / Qwen / SmolLM style) encodes any text, so prompts never hit `<unk>`.
"""

import json
from dataclasses import dataclass

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

CORPUS: tuple[str, ...] = (
    "What is this? This is a photo of a cat sitting on a chair.",
    "Describe the image in detail. The image shows an astronaut in a white suit.",
    "A cup of coffee on a wooden table, next to a small plate.",
    "The rocket stands on the launch pad under a clear blue sky.",
    "Two people are walking a dog in the park on a sunny afternoon.",
    "There is a red car parked in front of an old brick house.",
    "The quick brown fox jumps over the lazy dog.",
    "Please answer the question about the picture in one sentence.",
    "How many animals can you see in this picture? I can see three birds.",
    "The cat has green eyes, soft fur and long white whiskers.",
    "A man is reading a book while a woman is drinking tea.",
    "The mountains are covered with snow and the lake is calm.",
    "In the video, a child throws a ball and the dog runs after it.",
    "First, the camera shows a street. Then, a bus drives past the shop.",
    "Summarize the video: a chef cooks pasta and serves it on a plate.",
    "What color is the flower? The flower is yellow with a dark center.",
    "The astronaut holds a flag and smiles at the camera.",
    "A large ship sails across the ocean toward the harbor at sunset.",
    "The kitchen has a white fridge, a stove and a window above the sink.",
    "Is there any text in the image? Yes, the sign says open.",
    "She wears a blue jacket, black shoes and a green hat.",
    "The computer screen shows a chart with numbers from one to ten.",
    "Birds fly over the river while fish swim under the bridge.",
    "This picture was taken at night; the city lights are bright.",
    "Caption: a bowl of fruit with apples, bananas and oranges.",
    "The train leaves the station at nine and arrives at noon.",
    "You are a helpful assistant. Answer briefly and clearly.",
    "The user asks a question and the assistant gives an answer.",
    "Frame 1 shows a door. Frame 2 shows a hand opening the door.",
    "A tall tree stands alone in a field of green grass.",
    "The boy is playing the guitar and singing a happy song.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 2024 3.14 50% $20",
    "Punctuation and symbols: ( ) [ ] { } < > , . ; : ! ? ' \" - _ / * + = # @ & |",
    "Hello world! Thank you very much. Good morning, good night.",
    "The photo is blurry, dark and taken from far away.",
    "An orange cat and a grey kitten sleep on a soft blanket.",
    "USER: What is in the picture? ASSISTANT: A cat. User: Hi. Assistant: Hello.",
    "system user assistant [INST] question [/INST] answer <think> </think>",
)

DEFAULT_VOCAB_SIZE = 512  # 256 byte symbols + ~250 merges: small embeddings, still real words


@dataclass(frozen=True, kw_only=True)
class TokenizerSpec:
    """The special tokens of one family's tokenizer, laid out like the hub tokenizer."""

    leading: tuple[str, ...]  # special tokens with the first ids (Llama's <unk> <s> </s>, SmolLM's <|endoftext|> ...)
    trailing: tuple[str, ...]  # special tokens appended after the trained vocab (Qwen's <|im_start|>, LLaVA's <image>)
    bos_token: str | None  # None: the family has no BOS (Qwen)
    eos_token: str  # the token that ends an assistant turn
    pad_token: str
    unk_token: str | None
    prepend_bos: bool  # Llama style: the tokenizer itself puts BOS in front of every sequence
    model_max_length: int = 8192


def _with_fillers(tokenizer: Tokenizer, *, count: int) -> Tokenizer:
    """Append `count` unreachable BPE entries (no merge produces them) that still decode to text.

    Lets a small tokenizer span a real model's embedding table, so every id a random
    real-size model generates decodes to something (" tok123") instead of nothing.
    """
    state = json.loads(tokenizer.to_str())
    vocab: dict[str, int] = state["model"]["vocab"]
    next_id = max(vocab.values()) + 1
    index = 0
    while count > 0:
        filler = f"\u0120tok{index}"  # "Ġ" is ByteLevel's space
        index += 1
        if filler in vocab:
            continue
        vocab[filler] = next_id
        next_id += 1
        count -= 1
    return Tokenizer.from_str(json.dumps(state))


def _bpe_backend(*, spec: TokenizerSpec, vocab_size: int, total_size: int | None) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in spec.leading],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    new_tokens = [t for t in spec.trailing if tokenizer.token_to_id(t) is None]
    if total_size is not None:
        fillers = total_size - tokenizer.get_vocab_size() - len(new_tokens)
        if fillers < 0:
            raise ValueError(f"total_size {total_size} is smaller than the trained vocab plus special tokens")
        tokenizer = _with_fillers(tokenizer, count=fillers)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in new_tokens])
    if spec.prepend_bos and spec.bos_token is not None:
        bos_id = tokenizer.token_to_id(spec.bos_token)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{spec.bos_token}:0 $A:0",
            pair=f"{spec.bos_token}:0 $A:0 {spec.bos_token}:1 $B:1",
            special_tokens=[(spec.bos_token, bos_id)],
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer


def train_tokenizer(
    *,
    spec: TokenizerSpec,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    total_size: int | None = None,
    chat_template: str | None = None,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `CORPUS` and wrap it with the family's special tokens.

    vocab_size: trained BPE size (bytes + merges), before the trailing special tokens.
    total_size: if given, filler entries make len(tokenizer) exactly this (a real model's vocab).
    Deterministic: the same arguments give the same vocab and merges.
    Padding side is left, which is what batched generation needs, and it is saved that way.
    """
    backend = _bpe_backend(spec=spec, vocab_size=vocab_size, total_size=total_size)
    named = {spec.bos_token, spec.eos_token, spec.pad_token, spec.unk_token}
    extra = [t for t in (*spec.leading, *spec.trailing) if t not in named]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=spec.bos_token,
        eos_token=spec.eos_token,
        pad_token=spec.pad_token,
        unk_token=spec.unk_token,
        extra_special_tokens=extra,
        padding_side="left",
        model_max_length=spec.model_max_length,
        clean_up_tokenization_spaces=False,
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def padded_vocab_size(*, tokenizer: PreTrainedTokenizerFast, multiple: int = 64) -> int:
    """Model vocab size: covers every token id, rounded up like hub checkpoints do."""
    return -(-len(tokenizer) // multiple) * multiple


def token_id(*, tokenizer: PreTrainedTokenizerFast, token: str) -> int:
    """Id of a token that must exist in the vocab (a missing one is a builder bug)."""
    found = tokenizer.get_vocab().get(token)
    if found is None:
        raise ValueError(f"token {token!r} is not in the tokenizer vocab")
    return found
