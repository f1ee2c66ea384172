"""The resource guard: estimate the memory a run holds at once and refuse, before anything is written, a run
that cannot fit (unless `confirm_large = true`).

The estimate is the task kind's (`TaskKind.estimate`: population, logits, activations, parameters and
optimizer state); the limit is what the chosen device has: GPU memory with device cuda, otherwise the memory
the operating system reports as available (MemAvailable on Linux, physical memory elsewhere).
"""
from __future__ import annotations

import os
from types import SimpleNamespace

from fourier_circuits.errors import ResourceError
from fourier_circuits.tasks.registry import kind_of, task_of

USABLE_FRACTION = 0.8  # leave room for the interpreter, torch's allocator slack and other processes


def available_memory(device: str) -> int:
    """Bytes the run may use on `device` ("cuda" or anything else = host memory)."""
    if device == "cuda":
        import torch
        return int(torch.cuda.mem_get_info()[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def estimate_bytes(cfg) -> dict[str, int]:
    """{component: bytes} of the run of `cfg`, plus "total"."""
    parts = kind_of(cfg).estimate(cfg, task_of(cfg))
    return {**parts, "total": sum(parts.values())}


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**28 else f"{n / 2**20:.0f} MB"


def check_resources(cfg) -> None:
    """Raise ResourceError with the estimate and the limit when the run cannot fit (confirm_large skips it)."""
    if cfg.confirm_large:
        return
    parts = estimate_bytes(cfg)
    device = "cuda" if cfg.device == "cuda" else "cpu"
    limit = int(USABLE_FRACTION * available_memory(device))
    if parts["total"] > limit:
        largest = max((k for k in parts if k != "total"), key=parts.get)
        raise ResourceError(
            f"run needs about {_gb(parts['total'])} of memory ({largest} {_gb(parts[largest])}) but "
            f"{'the GPU' if device == 'cuda' else 'this machine'} has {_gb(limit)} usable; shrink p, k, width "
            f"or batch_size, or pass --set confirm_large=true to run it anyway")


CONSTRUCT_CHUNK_BYTES = 512 * 2**20   # the chunk budget of the float64 margin pass (models.margins)


def check_construction(kind, task, width: int) -> None:
    """The resource guard of `construct`: the kind's estimate for a float64 network of `width` over the whole
    population, evaluated in chunks of CONSTRUCT_CHUNK_BYTES of activations (as `normalized_margin` does).
    Raises ResourceError before anything is built; there is no confirm_large for a construction."""
    width = max(1, int(width))
    chunk = max(1, CONSTRUCT_CHUNK_BYTES // (3 * 8 * width))
    cfg = SimpleNamespace(width=width, dtype="float64", train_fraction=1.0, batch_size=chunk,
                          memory_budget_mb=CONSTRUCT_CHUNK_BYTES // 2**20)
    parts = kind.estimate(cfg, task)
    total = sum(parts.values())
    limit = int(USABLE_FRACTION * available_memory("cpu"))
    if total > limit:
        largest = max(parts, key=parts.get)
        raise ResourceError(f"the construction needs about {_gb(total)} of memory ({largest} {_gb(parts[largest])}, "
                            f"width {width}) but this machine has {_gb(limit)} usable; choose a smaller task")
