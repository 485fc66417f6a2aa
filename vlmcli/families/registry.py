"""The registry: one entry per supported model family, and every map derived from it.

This is the one place a family is declared. The loader's adapter lookup, the
"unsupported family" error, `vlm models`, the hub-cache scan, the tiny-checkpoint
builders (`vlmcli.testing`) and README's coverage table all read `FAMILIES`; none keeps
a list of its own. A new family is its own files (adapter, planner, builder) plus one
entry here (see docs/adding-a-family.md).
"""

from __future__ import annotations

from vlmcli.families.spec import Batching, FamilySpec, Positions, VideoPath

FAMILIES: tuple[FamilySpec, ...] = (
    FamilySpec(
        name="idefics3",
        title="Idefics3 / SmolVLM",
        model_types=("idefics3", "smolvlm"),
        examples=("HuggingFaceTB/SmolVLM-256M-Instruct", "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"),
        adapter="vlmcli.engine.adapters.idefics3:Idefics3Adapter",
        planner="vlmcli.tiling.idefics3:plan_idefics3",
        builders="vlmcli.testing.idefics3",
        video=VideoPath.NATIVE,
        native_video_only_for="SmolVLM2",
        tiling="`longest_edge` and splitting",
    ),
    FamilySpec(
        name="qwen2_vl",
        title="Qwen-VL",
        model_types=("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe"),
        examples=("Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen3-VL-2B-Instruct"),
        adapter="vlmcli.engine.adapters.qwen_vl:QwenVLAdapter",
        planner="vlmcli.tiling.qwen:plan_qwen",
        builders="vlmcli.testing.qwen",
        video=VideoPath.NATIVE,
        tiling="`min_pixels` / `max_pixels`",
        positions=Positions.MROPE,
    ),
    FamilySpec(
        name="llava",
        title="LLaVA 1.5",
        model_types=("llava",),
        examples=("llava-hf/llava-1.5-7b-hf",),
        adapter="vlmcli.engine.adapters.llava15:LlavaAdapter",
        planner="vlmcli.tiling.llava:plan_llava15",
        builders="vlmcli.testing.llava",
        video=VideoPath.FRAMES,
        tiling="none native; vlmcli's anyres tiles (`--min-pixels`)",
    ),
    FamilySpec(
        name="llava_next",
        title="LLaVA-NeXT",
        model_types=("llava_next",),
        examples=("llava-hf/llava-v1.6-mistral-7b-hf",),
        adapter="vlmcli.engine.adapters.llava:LlavaNextAdapter",
        planner="vlmcli.tiling.llava:plan_llava_next",
        builders="vlmcli.testing.llava",
        video=VideoPath.FRAMES,
        tiling="anyres grid pinpoints",
    ),
    FamilySpec(
        name="llava_onevision",
        title="LLaVA-OneVision",
        model_types=("llava_onevision",),
        examples=("llava-hf/llava-onevision-qwen2-0.5b-ov-hf",),
        adapter="vlmcli.engine.adapters.llava:LlavaOnevisionAdapter",
        planner="vlmcli.tiling.llava:plan_llava_next",
        builders="vlmcli.testing.llava",
        video=VideoPath.NATIVE,
        tiling="anyres grid pinpoints",
    ),
    FamilySpec(
        name="internvl",
        title="InternVL",
        model_types=("internvl",),
        examples=("OpenGVLab/InternVL3-1B-hf",),
        adapter="vlmcli.engine.adapters.internvl:InternVLAdapter",
        planner="vlmcli.tiling.internvl:plan_internvl",
        builders="vlmcli.testing.internvl",
        video=VideoPath.NATIVE,
        tiling="`min_patches` / `max_patches` (dynamic 448-px tiles + thumbnail)",
    ),
    FamilySpec(
        name="idefics2",
        title="Idefics2",
        model_types=("idefics2",),
        examples=("HuggingFaceM4/idefics2-8b",),
        adapter="vlmcli.engine.adapters.idefics2:Idefics2Adapter",
        planner="vlmcli.tiling.idefics2:plan_idefics2",
        builders="vlmcli.testing.idefics2",
        video=VideoPath.FRAMES,
        tiling="`longest_edge` / `shortest_edge` and splitting (4 crops + whole image)",
    ),
    FamilySpec(
        name="mistral3",
        title="Mistral 3",
        model_types=("mistral3",),
        examples=("mistralai/Mistral-Small-3.1-24B-Instruct-2503",),
        adapter="vlmcli.engine.adapters.mistral3:Mistral3Adapter",
        planner="vlmcli.tiling.mistral3:plan_mistral3",
        builders="vlmcli.testing.mistral3",
        video=VideoPath.FRAMES,
        tiling="`longest_edge` (variable resolution; nominal tile 16x16 cells)",
    ),
    FamilySpec(
        name="llava_next_video",
        title="LLaVA-NeXT-Video",
        model_types=("llava_next_video",),
        examples=("llava-hf/LLaVA-NeXT-Video-7B-hf",),
        adapter="vlmcli.engine.adapters.llava_next_video:LlavaNextVideoAdapter",
        planner="vlmcli.tiling.llava_next_video:plan_llava_next_video",
        builders="vlmcli.testing.llava_next_video",
        video=VideoPath.NATIVE,
        tiling="anyres grid pinpoints",
    ),
    FamilySpec(
        name="qwen3_5",
        title="Qwen3.5",
        model_types=("qwen3_5", "qwen3_5_moe"),
        examples=("Qwen/Qwen3.5-27B",),
        adapter="vlmcli.engine.adapters.qwen3_5:Qwen3_5Adapter",
        planner="vlmcli.tiling.qwen3_5:plan_qwen3_5",
        builders="vlmcli.testing.qwen3_5",
        video=VideoPath.NATIVE,
        tiling="`min_pixels` / `max_pixels`",
        positions=Positions.MROPE,
        batching=Batching.STATIC,
        static_because="Gated DeltaNet layers keep a recurrent state",
    ),
    FamilySpec(
        name="lfm2_vl",
        title="LFM2-VL",
        model_types=("lfm2_vl",),
        examples=("LiquidAI/LFM2-VL-450M", "LiquidAI/LFM2-VL-1.6B"),
        adapter="vlmcli.engine.adapters.lfm2_vl:Lfm2VlAdapter",
        planner="vlmcli.tiling.lfm2_vl:plan_lfm2_vl",
        builders="vlmcli.testing.lfm2_vl",
        video=VideoPath.FRAMES,
        tiling="`max_image_tokens` / `min_image_tokens`, 512-px tiles (`max_tiles`) + thumbnail",
        batching=Batching.STATIC,
        static_because="short-convolution layers keep a state",
    ),
    FamilySpec(
        name="glm4v",
        title="GLM-4.1V / 4.5V",
        model_types=("glm4v",),
        examples=("zai-org/GLM-4.1V-9B-Thinking",),
        adapter="vlmcli.engine.adapters.glm4v:Glm4vAdapter",
        planner="vlmcli.tiling.glm4v:plan_glm4v",
        builders="vlmcli.testing.glm4v",
        video=VideoPath.NATIVE,
        tiling="`size` `shortest_edge` / `longest_edge` (pixel bounds over 2 frames)",
        positions=Positions.MROPE,
    ),
    FamilySpec(
        name="gemma3",
        title="Gemma 3",
        model_types=("gemma3",),
        examples=("google/gemma-3-4b-it",),
        adapter="vlmcli.engine.adapters.gemma3:Gemma3Adapter",
        planner="vlmcli.tiling.gemma3:plan_gemma3",
        builders="vlmcli.testing.gemma3",
        video=VideoPath.FRAMES,
        tiling="none native (fixed 896-px view); pan-and-scan crops `pan_and_scan_max_num_crops` (off by default)",
        batching=Batching.STATIC,
        static_because="sliding-window attention layers",
    ),
    FamilySpec(
        name="paligemma",
        title="PaliGemma",
        model_types=("paligemma",),
        examples=("google/paligemma2-3b-pt-224", "google/paligemma-3b-mix-224"),
        adapter="vlmcli.engine.adapters.paligemma:PaliGemmaAdapter",
        planner="vlmcli.tiling.paligemma:plan_paligemma",
        builders="vlmcli.testing.paligemma",
        video=VideoPath.FRAMES,
        tiling="none (fixed 224/448/896-px view)",
        chat_template=False,
        batching=Batching.STATIC,
        static_because="sliding-window attention layers in its Gemma 2 decoder",
    ),
    FamilySpec(
        name="minicpmv4_6",
        title="MiniCPM-V 4.6",
        model_types=("minicpmv4_6",),
        examples=("openbmb/MiniCPM-V-4.6",),
        adapter="vlmcli.engine.adapters.minicpmv4_6:MiniCPMV4_6Adapter",
        planner="vlmcli.tiling.minicpmv4_6:plan_minicpmv4_6",
        builders="vlmcli.testing.minicpmv4_6",
        video=VideoPath.FRAMES,
        tiling="`max_slice_nums`, ~448-px slices (`scale_resolution`) + thumbnail",
        batching=Batching.STATIC,
        static_because="linear-attention layers keep a recurrent state",
    ),
    FamilySpec(
        name="molmo2",
        title="Molmo 2",
        model_types=("molmo2",),
        examples=("allenai/Molmo2-8B", "allenai/Molmo2-4B"),
        adapter="vlmcli.engine.adapters.molmo2:Molmo2Adapter",
        planner="vlmcli.tiling.molmo2:plan_molmo2",
        builders="vlmcli.testing.molmo2",
        video=VideoPath.NATIVE,
        tiling="`max_crops`, overlapping 378-px crops + low-res view",
    ),
    FamilySpec(
        name="fast_vlm",
        title="FastVLM",
        model_types=("fast_vlm",),
        examples=("KamilaMila/FastVLM-0.5B", "KamilaMila/FastVLM-7B"),
        adapter="vlmcli.engine.adapters.fast_vlm:FastVlmAdapter",
        planner="vlmcli.tiling.fast_vlm:plan_fast_vlm",
        builders="vlmcli.testing.fast_vlm",
        video=VideoPath.FRAMES,
        tiling="`size` `shortest_edge` / `crop_size` (one square view, 64-px cells)",
    ),
    FamilySpec(
        name="gemma4",
        title="Gemma 4",
        model_types=("gemma4", "gemma4_unified"),
        examples=("google/gemma-4-E2B-it", "google/gemma-4-E4B-it"),
        adapter="vlmcli.engine.adapters.gemma4:Gemma4Adapter",
        planner="vlmcli.tiling.gemma4:plan_gemma4",
        builders="vlmcli.testing.gemma4",
        video=VideoPath.NATIVE,
        tiling="`max_soft_tokens` (70/140/280/560/1120; one aspect-preserving view)",
        batching=Batching.STATIC,
        static_because="sliding-window and shared key/value layers",
    ),
)

DEFAULT_MODEL = "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"

_BY_MODEL_TYPE: dict[str, FamilySpec] = {t: spec for spec in FAMILIES for t in spec.model_types}


def family_for_model_type(model_type: str) -> FamilySpec | None:
    """The family whose adapter handles `model_type`, or None."""
    return _BY_MODEL_TYPE.get(model_type)


def supported_model_types() -> tuple[str, ...]:
    """Every registered model type, in registry order."""
    return tuple(_BY_MODEL_TYPE)


def builder_refs() -> dict[str, str]:
    """model type -> "module:function" of its tiny-checkpoint builder, in registry order."""
    return {t: spec.builder_ref(t) for spec in FAMILIES for t in spec.model_types}
