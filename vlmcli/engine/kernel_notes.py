"""Keep transformers' "no fast kernel here" notices off a CPU user's stderr.

Hybrid decoders (Qwen3.5's Gated DeltaNet, LFM2's short convolutions) call kernels from
optional packages (`causal-conv1d`, `flash-linear-attention`) through transformers' hub-kernel
wrappers, which log, once per function and process,

    `causal_conv1d_fn` is falling back to its reference PyTorch implementation because
    `causal_conv1d` is either not installed or doesn't support the device of the inputs. ...

Those packages are CUDA-only, so on a CPU the notice names nothing the user could do, and
four of them precede every answer. On a CPU they go to vlmcli's `--debug` log instead; on a
GPU, where installing the package is real advice, they stay on stderr.
"""

from __future__ import annotations

import logging

_SOURCE = "transformers.integrations.hub_kernels"
_NOTICE = "is falling back to its reference PyTorch implementation"
_DEBUG = logging.getLogger("vlmcli.engine")


class _CpuKernelNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _NOTICE not in message:
            return True
        _DEBUG.debug("transformers: %s", message)
        return False


_FILTER = _CpuKernelNotice()


def quiet_cpu_kernel_notices(device_type: str) -> None:
    """On CPU, route the fallback notices to the debug log (idempotent; process-wide)."""
    logger = logging.getLogger(_SOURCE)
    if device_type == "cpu":
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    else:
        logger.removeFilter(_FILTER)
