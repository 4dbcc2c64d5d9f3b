"""What this machine's processor can do, where it changes what runs best.

``resolve_precision("auto")`` is ``bfloat16`` where the hardware computes in bf16 natively (a CUDA GPU that
supports it, or a CPU with AVX512-BF16 or AMX units, as oneDNN reports) and ``float32`` elsewhere: on a CPU without
them bf16 is emulated, and V's encoder ran 4.7 times slower in bf16 than in float32 (4.57 against 0.98 ms a frame,
batch 128, one thread, on the 2-core AMD EPYC development machine, whose CPU reports AVX2 only).
"""

from __future__ import annotations

import functools

import torch

PRECISIONS = ("auto", "float32", "bfloat16")


@functools.cache
def native_bfloat16() -> bool:
    """True where torch computes in bf16 on native units: CUDA when present, else the CPU's oneDNN."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def resolve_precision(requested: str) -> str:
    """``float32`` or ``bfloat16`` for ``requested`` (``auto``: bf16 only where it is native, above)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision={requested!r}: expected one of {PRECISIONS}")
    if requested == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return requested
