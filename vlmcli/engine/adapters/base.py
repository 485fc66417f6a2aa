"""The one interface every model family implements.

The generation loop (`vlmcli.engine.generate`) knows nothing about families. It asks the
adapter to:

1. `prepare` a request: the chat-template prompt with image and video placeholders, run
   through the family's real processor (decoded frames go in as they are, never
   re-sampled), the visual tensors split per image / per clip (so each can be cached and
   batched on its own), and each item's `TokenLayout`; when `--temporal-pool`/`--compress`
   shrink an item, the prompt is rewritten with the reduced placeholder count;
2. `encode` a list of images (`encode_videos` a list of clips) in one vision-encoder call,
   returning per-item features;
3. `merge` the (reduced) features into the text embeddings, in prompt order (plus any
   extra decoder inputs, such as Qwen3-VL's deepstack features);
4. give `prefill_positions` (1-D, or Qwen's 3-D MRoPE) and `decode_positions`.

Families without a video path (`native_video = False`) get each video as frames, i.e.
images with time markers (`adapters.frames`). The base class holds what most families
share: masked-scatter merging on the placeholder tokens, cumulative-sum positions, and
`model.get_image_features` returning per-image features. Families override what differs.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from vlmcli.engine.adapters.prepared import Merged, PreparedImage, PreparedRequest, PreparedVideo, video_usage
from vlmcli.engine.adapters.prompt import resize_runs, splice, template_interleaves
from vlmcli.engine.cache import Features
from vlmcli.engine.request import Request
from vlmcli.engine.video_input import VideoInput, unambiguous_frames
from vlmcli.errors import ConfigError
from vlmcli.families import family_for_model_type
from vlmcli.media.image_input import ImageInput
from vlmcli.reduction.reducer import Reducer, TokenLayout, TokenReduction
from vlmcli.tiling import ImagePlan, ResolutionPolicy

__all__ = ["Adapter", "Merged", "PreparedImage", "PreparedRequest", "PreparedVideo"]

if TYPE_CHECKING:
    import torch


class Adapter(ABC):
    """Family-specific glue around a transformers VLM and its processor."""

    native_video: bool = False
    """True when the family has its own video path (split_videos / encode_videos)."""
    token_extra_keys: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        model: Any,
        processor: Any,
        model_type: str,
        config: Any = None,
        policy: ResolutionPolicy | None = None,
        reduction: TokenReduction | None = None,
    ) -> None:
        """`model` may be None for planning only (dry runs): then `config` is required."""
        self.model = model
        self.processor = processor
        self.model_type = model_type
        self.config = config if config is not None else model.config
        self.policy = policy or ResolutionPolicy()
        self.reduction = reduction or TokenReduction()
        self.reducer = Reducer(self.reduction)
        self.fingerprint = self._fingerprint()
        self._interleaves: bool | None = None

    @property
    def family(self) -> str:
        """Registry name of the family that handles this model type (`vlmcli.families`)."""
        spec = family_for_model_type(self.model_type)
        assert spec is not None, self.model_type
        return spec.name

    @classmethod
    def check_backends(cls) -> None:
        """Raise `BackendUnavailableError` (saying what to install) when an optional package
        the family's model needs is missing; called by the loader before any weight is read.
        Most families need none."""

    # -- resolution ----------------------------------------------------------
    def with_policy(self, policy: ResolutionPolicy) -> "Adapter":
        """This adapter (same model and processor) under another resolution policy (`--truncate`)."""
        clone = copy.copy(self)
        clone.policy = policy
        clone.fingerprint = clone._fingerprint()
        return clone

    @abstractmethod
    def plan_images(self, sizes: list[tuple[int, int]]) -> list[ImagePlan]:
        """How each (width, height) image of one prompt is resized/tiled, and its token cost."""

    def processor_kwargs(self, sizes: list[tuple[int, int]]) -> dict[str, Any]:
        """Native processor knobs that apply `self.policy` to one prompt's images."""
        return {}

    def processor_images(self, images: list[ImageInput]) -> list[Any]:
        """The PIL images as this family's processor gets them (a family may pre-resize one so
        the processor's own grid choice follows the policy); `plan_images` sees the originals."""
        return [im.image for im in images]

    def processor_clips(self, videos: tuple[VideoInput, ...]) -> tuple[VideoInput, ...]:
        """The clips as this family's processor gets them (a family may need a minimum length)."""
        return videos

    def video_kwargs(self, videos: list[VideoInput]) -> dict[str, Any]:
        """Processor kwargs for already-decoded, already-sampled clips."""
        return {"video_metadata": [v.metadata() for v in videos], "do_sample_frames": False}

    @contextmanager
    def resolution_applied(self) -> Iterator[None]:
        """Settings that must hold on processor/model objects while preprocessing and encoding."""
        yield

    # -- prompt --------------------------------------------------------------
    def messages(self, request: Request, content: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """One user turn: the images, then the videos, then the question (plus an optional system turn)."""
        if content is None:
            content = [{"type": "image"} for _ in request.images] + [{"type": "video"} for _ in request.videos]
            content.append({"type": "text", "text": request.prompt})
        turns: list[dict[str, Any]] = []
        if request.system is not None:
            turns.append({"role": "system", "content": [{"type": "text", "text": request.system}]})
        turns.append({"role": "user", "content": content})
        return turns

    def prompt_text(self, request: Request, content: list[dict[str, Any]] | None = None) -> str:
        return self.processor.apply_chat_template(
            self.messages(request, content), add_generation_prompt=True, tokenize=False
        )

    @property
    def interleaves(self) -> bool:
        """Whether the chat template keeps text parts between images (for frame markers)."""
        if self._interleaves is None:
            self._interleaves = template_interleaves(self.processor, self.processor.image_token)
        return self._interleaves

    def prepare(self, request: Request) -> PreparedRequest:
        content, owners, clips = None, (), request.videos
        if request.videos and not self.native_video:
            from vlmcli.engine.adapters.frames import videos_as_frames

            converted = videos_as_frames(request, temporal=self.reduction.temporal, interleave=self.interleaves)
            request, content, owners = converted.request, converted.content, converted.owners
        if request.videos:
            request = dataclasses.replace(request, videos=self.processor_clips(request.videos))
        text = self.prompt_text(request, content)
        images = [self.processor_images(list(request.images))] if request.images else None
        sizes = [(im.image.width, im.image.height) for im in request.images]
        plans = self.plan_images(sizes) if sizes else []  # first: an image the family cannot take is an InputError
        kwargs = self.processor_kwargs(sizes)
        if request.videos:
            kwargs |= self.video_kwargs(list(request.videos))
        with self.resolution_applied():
            out = self.processor(
                text=[text],
                images=images,
                videos=[unambiguous_frames(v.frames) for v in request.videos] or None,
                return_tensors="pt",
                return_text_replacement_offsets=True,
                **kwargs,
            )
            input_ids = out["input_ids"][0]  # (L,)
            prepared = self.split_images(out, list(request.images), input_ids) if request.images else []
            videos = self.split_videos(out, list(request.videos), input_ids) if request.videos else []
        for image, plan, owner in zip(prepared, plans, owners or [None] * len(sizes)):
            image.resized, image.grid, image.video = plan.resized, plan.grid, owner
        for image in prepared:
            image.layout = self.image_layout(image)
            image.visual_tokens = self.reducer.count(image.layout)
        for video in videos:
            video.visual_tokens = self.reducer.count(video.layout)
        extras = {k: out[k][0] for k in self.token_extra_keys if k in out}
        if any(item.visual_tokens != item.written_tokens for item in [*prepared, *videos]):
            input_ids, extras = self._rewrite_prompt(text, out, prepared, videos)
        return PreparedRequest(
            input_ids=input_ids,
            images=prepared,
            token_extras=extras,
            videos=videos,
            usage=video_usage(clips, prepared, videos),
        )

    def _rewrite_prompt(
        self, text: str, out: Any, images: list[PreparedImage], videos: list[PreparedVideo]
    ) -> tuple["torch.Tensor", dict[str, "torch.Tensor"]]:
        """Input ids (and extras) of the prompt with every reduced item's placeholders resized."""
        import torch

        offsets = out["text_replacement_offsets"][0]
        queues = {"image": iter(images), "video": iter(videos)}
        replacements = []
        for entry in offsets:
            item = next(queues[entry["type"]])
            if item.visual_tokens == item.written_tokens:
                replacements.append(entry["replacement"])
            elif entry["type"] == "image":
                replacements.append(self.image_replacement(item, entry["replacement"]))
            else:
                replacements.append(self.video_replacement(item, entry["replacement"]))
        ids = self.processor.tokenizer([splice(text, offsets, replacements)], return_tensors="pt")["input_ids"]
        extras = {}
        if "mm_token_type_ids" in self.token_extra_keys:
            extras["mm_token_type_ids"] = torch.tensor(self.processor.create_mm_token_type_ids(ids)[0])  # (L,)
        return ids[0], extras

    def image_layout(self, image: PreparedImage) -> TokenLayout:
        """Default: one unit of all the image's tokens, no 2-D grid (families override)."""
        return TokenLayout(units=1, per_unit=image.visual_tokens)

    def image_replacement(self, image: PreparedImage, original: str) -> str:
        """The processor's expansion of one image, with each unit's run of tokens resized."""
        layout = image.layout
        assert layout is not None
        new = self.reducer.unit_tokens(layout)
        return resize_runs(original, self.processor.image_token, per_unit=layout.per_unit, new_per_unit=new)

    @abstractmethod
    def split_images(
        self, out: Any, images: list[ImageInput], input_ids: "torch.Tensor"
    ) -> list[PreparedImage]:
        """Cut the processor's batched visual tensors into one dict per image."""

    # -- video (native families override) ------------------------------------
    def split_videos(self, out: Any, videos: list[VideoInput], input_ids: "torch.Tensor") -> list[PreparedVideo]:
        """Cut the processor's video tensors into one dict per clip, with layout and groups."""
        raise ConfigError(f"{self.model_type} models have no native video path.")

    def encode_videos(self, videos: list[PreparedVideo]) -> list[Features]:
        """Run the vision tower over all `videos`; features per clip (encoder tokens, D)."""
        raise ConfigError(f"{self.model_type} models have no native video path.")

    def video_replacement(self, video: PreparedVideo, original: str) -> str:
        """The prompt expansion of a clip after its reduction (see `PreparedVideo.layout`)."""
        raise ConfigError(f"{self.model_type} models have no native video path.")

    def clip_groups(self, video: VideoInput, *, units: int, frames_per_unit: int = 1) -> Any:
        """Temporal groups of a clip's `units` (None: no pooling), from `--temporal-pool`."""
        from vlmcli.reduction.temporal import TemporalMode, frame_signatures, plan_groups, unit_signatures

        spec = self.reduction.temporal
        signatures = None
        if spec.mode is TemporalMode.SIMILAR:
            signatures = unit_signatures(frame_signatures(video.frames), frames_per_unit=frames_per_unit)
        return plan_groups(spec, units=units, signatures=signatures)

    # -- vision --------------------------------------------------------------
    @abstractmethod
    def encode(self, images: list[PreparedImage]) -> list[Features]:
        """Run the vision tower once over all `images`; features per image, in order."""

    # -- language model ------------------------------------------------------
    @property
    def image_token_id(self) -> int:
        config = self.config
        value = getattr(config, "image_token_id", None)
        if value is None:
            value = getattr(config, "image_token_index")
        return int(value)

    @property
    def video_token_id(self) -> int | None:
        """The clip placeholder token, if the family has one distinct from the image token."""
        value = getattr(self.config, "video_token_id", None)
        if value is None:
            value = getattr(self.config, "video_token_index", None)
        return None if value is None else int(value)

    def visual_mask(self, input_ids: "torch.Tensor") -> "torch.Tensor":
        """(B, L) True on image and video placeholder tokens."""
        mask = input_ids == self.image_token_id
        if self.video_token_id is not None:
            mask = mask | (input_ids == self.video_token_id)
        return mask

    @property
    def vision_dtype(self) -> "torch.dtype":
        """dtype of the vision tower's weights (the language model may differ: mixed CPU mode)."""
        return self._vision_dtype if self._vision_dtype is not None else self.model.dtype

    _vision_dtype: "torch.dtype | None" = None

    quantization: str = "none"
    """The parts of the model running in int8 (`vlmcli.quantize`), "none" by default."""

    @property
    def tiles_per_call(self) -> int | None:
        """Fixed-size tiles per vision-tower call on this model's device (None: all at once),
        for families that cut such tiles (Idefics3, LLaVA 1.5's own tiling); see `device.py`."""
        from vlmcli.engine.device import vision_tiles_per_call

        vision = self.config.vision_config
        patches = (int(vision.image_size) // int(vision.patch_size)) ** 2
        return vision_tiles_per_call(self.model.device, patches_per_tile=patches)

    def embed(self, input_ids: "torch.Tensor") -> "torch.Tensor":
        return self.model.get_input_embeddings()(input_ids)  # (B, L, D)

    @property
    def decoder(self) -> Any:
        return self.model.model.language_model

    @property
    def lm_head(self) -> Any:
        return self.model.lm_head

    def decode_kwargs(self, input_ids: "torch.Tensor") -> dict[str, Any]:
        """Extra decoder inputs of one decode step from its new token ids (B, 1); none by
        default (Gemma 4's per-layer embeddings are looked up by token id)."""
        return {}

    def merge(
        self, input_ids: "torch.Tensor", embeds: "torch.Tensor", features: list[Features]
    ) -> Merged:
        """Scatter the visual embeddings over the placeholder tokens.

        `features` are per item in prompt order: row by row, each row's images then videos
        (the order `masked_scatter` fills the placeholders of a left-padded batch).
        """
        import torch

        if not features:
            return Merged(embeds)
        visual = torch.cat([f["embeds"] for f in features], dim=0).to(embeds.device, embeds.dtype)  # (N, D)
        mask = self.visual_mask(input_ids).unsqueeze(-1).to(embeds.device)  # (B, L, 1)
        return Merged(embeds.masked_scatter(mask, visual))

    def prefill_positions(
        self,
        input_ids: "torch.Tensor",
        attention_mask: "torch.Tensor",
        *,
        extras: dict[str, "torch.Tensor"],
        requests: list[PreparedRequest],
    ) -> "torch.Tensor":
        """Positions for the padded prompt batch (B, L): count only real tokens (left padding)."""
        positions = attention_mask.long().cumsum(-1) - 1  # (B, L)
        return positions.masked_fill(attention_mask == 0, 0)

    def decode_positions(self, previous: "torch.Tensor") -> "torch.Tensor":
        """Positions of the next single token: one past the last ones, in every rope axis."""
        return previous[..., -1:] + 1  # (..., B, 1)

    # -- bookkeeping ---------------------------------------------------------
    def _fingerprint(self) -> str:
        """Identity of everything that changes vision features: weights and preprocessing."""
        parts = [
            str(getattr(self.config, "_name_or_path", "")),
            str(getattr(self.model, "dtype", "")),
            self.quantization,
            json.dumps(self.config.to_diff_dict(), sort_keys=True, default=str),
            repr(self.policy),
        ]
        for name in ("image_processor", "video_processor"):
            sub = getattr(self.processor, name, None)
            if sub is not None:
                parts.append(sub.to_json_string())
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

