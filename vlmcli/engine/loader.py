"""Load a VLM and its processor from a folder or hub id, safely, and pick its adapter.

Safety by default: remote code never runs unless `trust_remote_code` is set, and only
safetensors weights load unless `allow_pickle` is set. Every failure becomes one of the
library's `ModelError`s with a sentence that says what to do.
"""

from __future__ import annotations

import importlib.util
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmcli.engine.adapters import Adapter
from vlmcli.engine.chat_template import adopt_tokenizer_template, check_chat_template, check_places_image
from vlmcli.engine.config import Device, EngineConfig
from vlmcli.engine.device import resolve_device, resolve_dtype, text_dtype
from vlmcli.engine.embedding_rows import check_tokenizer_fits
from vlmcli.engine.kernel_notes import quiet_cpu_kernel_notices
from vlmcli.engine.quantized import check_quantization, describe
from vlmcli.engine.readable import check_readable, permission_message
from vlmcli.engine.remote_code import check_remote_code
from vlmcli.engine.source import (
    PROCESSOR_FILES, ModelSource, check_weights_safety, env_offline, looks_like_path, read_model_config, resolve_source,
)
from vlmcli.engine.versions import check_transformers, torchvision_broken, torchvision_missing
from vlmcli.engine.weights_files import weights_failure
from vlmcli.engine.weights_match import check_loaded_weights, quiet_load_report
from vlmcli.errors import BackendUnavailableError, ModelError, ResourceError, UnsupportedModelError
from vlmcli.families import family_for_model_type, supported_model_types
from vlmcli.memory_errors import is_out_of_memory
from vlmcli.quantize.apply import QuantReport, check_runtime, quantize_model
from vlmcli.quantize.mode import plan_for


@dataclass
class LoadedModel:
    source: ModelSource
    model_type: str
    adapter: Adapter
    processor: Any
    load_s: float
    quantization: QuantReport | None = None
    """What `--quantize` changed (None: nothing quantised)."""


def check_family(config: dict, folder_name: str) -> str:
    """The model_type, if vlmcli has an adapter for it; otherwise a clear error."""
    model_type = str(config.get("model_type", ""))
    if family_for_model_type(model_type) is not None:
        return model_type
    supported = ", ".join(supported_model_types())
    if "auto_map" in config:  # e.g. phi3_v, internvl_chat: a family only the repository's code defines
        kind = f" ({model_type!r})" if model_type else ""
        raise UnsupportedModelError(
            f"{folder_name} is a custom-code model{kind}: its family exists only in the repository's own Python code "
            f"(auto_map), which vlmcli does not support, with or without --trust-remote-code; supported families: "
            f"{supported}."
        )
    if not model_type:
        raise ModelError(
            f"{folder_name}'s config.json names no model_type, so its family is unknown; supported: {supported}."
        )
    if "vision_config" not in config:
        raise ModelError(
            f"{folder_name} is not a vision-language model (model_type {model_type or 'unknown'!r}); "
            f"supported families: {supported}."
        )
    raise UnsupportedModelError(
        f"{folder_name} is a {model_type!r} model, a family vlmcli does not support yet; supported: {supported}."
    )


def _adapter_class(model_type: str) -> type[Adapter]:
    """The registered adapter class of a supported `model_type` (imported on first use)."""
    spec = family_for_model_type(model_type)
    assert spec is not None, model_type  # `check_family` let it through
    return spec.adapter_class()


def _locate(config: EngineConfig) -> tuple[ModelSource, dict, str]:
    """The model's folder, its raw config.json, and its (supported) model_type."""
    check_transformers()
    source = resolve_source(
        config.model,
        revision=config.revision,
        offline=config.offline,
        cache_dir=config.cache_dir,
        allow_pickle=config.allow_pickle,
    )
    hub = source.revision is not None
    check_readable(source.folder, config.model, fix_at=source.folder.parent.parent if hub else None)
    raw = read_model_config(source.folder, hub_id=source.model_id if hub else None)
    model_type = check_family(raw, config.model)
    asked = None if config.device is Device.AUTO else config.device.value  # AUTO is known only once torch is up
    check_quantization(raw, config.model, device_type=asked, int8=bool(plan_for(config.quantize).parts))
    check_processor_files(source.folder, config.model)
    spec = family_for_model_type(model_type)
    if spec is not None and spec.chat_template:
        check_chat_template(source.folder, config.model)
    return source, raw, model_type


def check_model(config: EngineConfig) -> None:
    """Fail now, in milliseconds, on a model that cannot load, before a command spends minutes
    reading its inputs: a missing or unsupported local folder, or (offline) a hub id not in the
    cache. Online, a hub id the cache does not hold is looked up on the hub (one metadata
    request, no download: `hub_lookup`); a cached one is left to the load."""
    if _on_disk(config.model) or looks_like_path(config.model) or config.offline or env_offline():
        _locate(config)
        return
    from vlmcli.engine.hub_lookup import check_hub_id

    check_hub_id(config.model, revision=config.revision, cache_dir=config.cache_dir)


def _on_disk(model: str) -> bool:
    """Whether `model` names something here (True also when a folder on its way cannot be
    searched: Path.exists() raised PermissionError there, and `_locate` says which folder)."""
    try:
        return Path(model).expanduser().exists()
    except OSError:
        return True


def check_processor_files(folder: Path, model: str) -> None:
    """Refuse, before any weights load, a folder with no processor or tokenizer files at all."""
    if not any((folder / name).is_file() for name in PROCESSOR_FILES):
        raise ModelError(
            f"{model} has weights but no processor or tokenizer files ({', '.join(PROCESSOR_FILES)}), as a "
            "folder saved with `model.save_pretrained` alone is; save the base model's processor into it too: "
            "AutoProcessor.from_pretrained(BASE).save_pretrained(FOLDER)."
        )


def load_model(config: EngineConfig) -> LoadedModel:
    start = time.perf_counter()
    source, raw, model_type = _locate(config)
    check_remote_code(source.folder, raw, config.model, model_type, trusted=config.trust_remote_code)
    check_weights_safety(source.folder, allow_pickle=config.allow_pickle)
    _adapter_class(model_type).check_backends()  # a missing optional package: say what to install
    device = resolve_device(config.device, config.gpu)
    check_quantization(raw, config.model, device_type=device.type)
    dtype = resolve_dtype(config.dtype, device)
    if plan_for(config.quantize).parts:
        check_runtime(device=device.type, dtype=text_dtype(config.dtype, device), named=config.dtype.value)

    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForImageTextToText
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the CLI shows its own status; stderr stays one line per event
    quiet_cpu_kernel_notices(device.type)
    kwargs = {"trust_remote_code": config.trust_remote_code}
    # The processor loads on a thread while the weights load and quantise here: its ~2 s are
    # mostly Python imports (transformers' image utilities pull in torchvision), the weights'
    # mostly reading and int8 rounding outside the GIL, so the two overlap (bench/RESULTS.md).
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vlm-processor")
    if importlib.util.find_spec("torchvision") is None:  # the processor may need it: fail before the weights load
        processor = load_processor(source.folder, config)
        processor_loading = pool.submit(lambda: processor)
    else:
        processor_loading = pool.submit(load_processor, source.folder, config)
    try:
        with quiet_load_report():  # said below in one line, not as transformers' table
            model, loading = AutoModelForImageTextToText.from_pretrained(
                str(source.folder), dtype=dtype, use_safetensors=not config.allow_pickle, output_loading_info=True,
                ignore_mismatched_sizes=True, **kwargs,  # mismatched shapes are reported, not raised, and refused below
            )
        check_loaded_weights(config.model, source.folder, loading)
        model.to(device)
        model.eval()
        quantization = _quantize(model, config)
        processor = processor_loading.result()
        check_tokenizer_fits(model, processor, config.model)
    except (torch.OutOfMemoryError, MemoryError):
        raise ResourceError(_out_of_memory(config.model, device=device, dtype=dtype)) from None
    except (OSError, ValueError, KeyError, SafetensorError) as err:
        raise ModelError(weights_failure(source, err)) from None
    except (ImportError, RuntimeError) as err:
        if isinstance(err, RuntimeError) and is_out_of_memory(err):  # "unable to mmap N bytes ...: Cannot allocate memory"
            raise ResourceError(_out_of_memory(config.model, device=device, dtype=dtype)) from None
        broken = torchvision_broken(torch.__version__)  # transformers hides it behind "Could not import module"
        if broken is not None:
            raise BackendUnavailableError(broken) from None
        if isinstance(err, ImportError) and describe(raw) is not None:  # a quantization method not checked ahead
            first = (str(err).strip().splitlines() or ["ImportError"])[0]
            raise BackendUnavailableError(
                f"{config.model} is quantized ({describe(raw)}) and vlmcli runs unquantized weights; {first}"
            ) from None
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    adapter = _adapter_class(model_type)(
        model=model, processor=processor, model_type=model_type, policy=config.resolution, reduction=config.reduction
    )
    adapter._vision_dtype = dtype
    language_dtype = text_dtype(config.dtype, device)
    if language_dtype != dtype:  # mixed: the decoder (with its embeddings) and the LM head only
        adapter.decoder.to(language_dtype)
        adapter.lm_head.to(language_dtype)
    if quantization is not None:  # the fingerprint says so: cached features of another precision are never reused
        adapter.quantization = plan_for(config.quantize).label
        adapter.fingerprint = adapter._fingerprint()
    return LoadedModel(
        source=source,
        model_type=model_type,
        adapter=adapter,
        processor=processor,
        load_s=time.perf_counter() - start,
        quantization=quantization,
    )


def _out_of_memory(model: str, *, device: Any, dtype: Any) -> str:
    """The one line of a load that ran out of memory: what to change, for this dtype."""
    import torch

    halve = "try --dtype bfloat16 (half of float32's memory) or a smaller model" if dtype == torch.float32 else "try a smaller model"
    return f"Out of memory loading {model} on {device} (its weights, as {str(dtype).removeprefix('torch.')}); {halve}."


def load_processor(folder: Path, config: EngineConfig) -> Any:
    """`AutoProcessor.from_pretrained`, its failures as the library's errors (a missing
    torchvision, which most families' processors need, says which release to install)."""
    import torch
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(str(folder), trust_remote_code=config.trust_remote_code)
        adopt_tokenizer_template(processor)
        check_places_image(processor, config.model)
        _quiet_length_warning(processor)
        return processor
    except ImportError as err:
        broken = torchvision_broken(torch.__version__)
        if broken is not None:
            raise BackendUnavailableError(broken) from None
        if "torchvision" not in str(err).lower():
            raise
        cause = str(err).strip().splitlines()[0].split(" but ")[0]
        raise BackendUnavailableError(torchvision_missing(config.model, torch.__version__, cause)) from None
    except (OSError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        if importlib.util.find_spec("torchvision") is None:  # fast-only image processors say only "could not load"
            raise BackendUnavailableError(torchvision_missing(config.model, torch.__version__, first)) from None
        raise ModelError(processor_failure(folder, config.model, first)) from None


def _quiet_length_warning(processor: Any) -> None:
    """transformers warns (once, on stderr) when a prompt is longer than the tokenizer's
    `model_max_length`; vlmcli checks every prompt against the model's context itself and
    says which flag to change (`fit.check_budget`), so the warning is only a second line."""
    warned = getattr(getattr(processor, "tokenizer", processor), "deprecation_warnings", None)
    if isinstance(warned, dict):
        warned["sequence-length-is-longer-than-the-specified-maximum"] = True


_SAVE_PROCESSOR = "save the base model's processor into it: AutoProcessor.from_pretrained(BASE).save_pretrained(FOLDER)"


def processor_failure(folder: Path, model: str, first: str) -> str:
    """What transformers' processor error means for this folder, naming the file at fault."""
    broken = broken_json(folder)
    if broken is not None:
        return f"{model} could not be loaded: {broken}"
    if "preprocessor_config.json" in first or "image processor" in first.lower():
        return f"{model} has no image processor config (processor_config.json or preprocessor_config.json); {_SAVE_PROCESSOR}."
    if "tokenizer" in first.lower() and "instantiate" in first.lower():  # "Couldn't instantiate the backend tokenizer"
        return f"{model} has no tokenizer files (tokenizer.json, or its vocabulary files); {_SAVE_PROCESSOR}."
    return f"{model} could not be loaded: {first}"


def broken_json(folder: Path) -> str | None:
    """`<file> is not valid JSON (...)` for the first processor or tokenizer JSON file that is not."""
    for path in sorted(folder.glob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except PermissionError:
            return permission_message(path)
        except (OSError, ValueError) as err:
            return f"{path.name} is not valid JSON ({err}); it may be cut short: copy it again from the model it was made from."
    return None


def _quantize(model: Any, config: EngineConfig) -> QuantReport | None:
    """int8 linear layers per `config.quantize` (in place). The language part is what
    `get_decoder()` holds: every adapter's decoder is it or a thin wrapper around it."""
    plan = plan_for(config.quantize)
    if not plan.parts:
        return None
    return quantize_model(model, language_root=model.get_decoder(), plan=plan)


def load_planner(config: EngineConfig) -> LoadedModel:
    """Config and processor only, no weights: enough to plan resolution and count tokens (dry runs)."""
    start = time.perf_counter()
    source, _, model_type = _locate(config)
    from transformers import AutoConfig

    processor = load_processor(source.folder, config)
    try:
        model_config = AutoConfig.from_pretrained(str(source.folder), trust_remote_code=config.trust_remote_code)
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"{config.model} could not be loaded: {str(err).splitlines()[0]}") from None
    adapter = _adapter_class(model_type)(
        model=None,
        processor=processor,
        model_type=model_type,
        config=model_config,
        policy=config.resolution,
        reduction=config.reduction,
    )
    return LoadedModel(
        source=source, model_type=model_type, adapter=adapter, processor=processor, load_s=time.perf_counter() - start
    )
