"""Which exceptions mean "out of memory", however torch, the OS or vlmcli spells them.

Pure logic on exceptions, shared by the loader (a load that runs out is exit 6, not
"unexpected") and the batch runners (an out-of-memory batch is halved and retried,
`captions.oom`). Spellings: torch.OutOfMemoryError (CUDA), MemoryError (Python's own
allocations), "MPS backend out of memory", and the CPU's: torch's allocator ("DefaultCPUAllocator:
can't allocate memory: you tried to allocate N bytes") and a failed mmap of a weights file
("unable to mmap N bytes from file ...: Cannot allocate memory (12)", under `ulimit -v` or
a full address space).
"""

from __future__ import annotations

from vlmcli.errors import ResourceError

_OOM_PHRASES = (
    "out of memory",
    "cuda_error_out_of_memory",
    "mps backend out of memory",
    "can't allocate memory",
    "cannot allocate memory",
)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch.OutOfMemoryError, MemoryError, a RuntimeError saying it ran out of
    memory, or vlmcli's ResourceError, also when one of them is the cause of `exc`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (MemoryError, ResourceError)) or type(current).__name__ == "OutOfMemoryError":
            return True
        if isinstance(current, RuntimeError) and any(p in str(current).lower() for p in _OOM_PHRASES):
            return True
        current = current.__cause__ or current.__context__
    return False
