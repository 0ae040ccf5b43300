"""Where models run: device resolution (LLM_DEVICE), CPU thread count, and mixed precision on CUDA."""
import contextlib
import os
import re

import torch

DEVICE_ENV = "LLM_DEVICE"
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(name: str | None = None) -> torch.device:
    """"auto" | "cpu" | "cuda" | "cuda:N" -> a torch.device; None reads LLM_DEVICE (default "auto").

    auto means CUDA when present, else CPU. Asking for CUDA where there is none (or for a GPU index that does
    not exist) is an error rather than a silent fall back to a CPU that may be 50x slower.
    """
    requested = (name if name is not None else os.environ.get(DEVICE_ENV, "auto")).strip().lower() or "auto"
    if not _DEVICE_PATTERN.match(requested):
        raise ValueError(f"unknown device {requested!r}: use auto, cpu, cuda or cuda:N (set via {DEVICE_ENV})")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} was asked for, but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {requested!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    return device


def available_cpus() -> int:
    """CPUs this process may run on (container and taskset limits included, unlike os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


def configure_cpu_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads; returns the number set.

    Default: the CPUs this process may use (torch counts the host's cores, which in a CPU-limited container
    oversubscribes them), less the ones other processes keep busy (the 1-minute load average). OpenMP
    threads wait for each other at every op; when one is descheduled by a busy neighbour the others spin,
    and on a shared 2-core box two threads measured 10x slower than one. OMP_NUM_THREADS, when set, wins.
    """
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        if env.isdigit() and int(env) > 0:
            threads = int(env)
        else:
            cpus = available_cpus()
            idle = cpus - os.getloadavg()[0] if hasattr(os, "getloadavg") else cpus
            threads = min(cpus, round(idle))
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()


def autocast(device: torch.device, dtype: torch.dtype = torch.bfloat16) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (matmuls and SDPA's flash/efficient kernels in bf16); a no-op elsewhere.

    On CPU float32 stays exact: bf16 autocast there changes the numerics the reference tests pin down.
    """
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=dtype)
    return contextlib.nullcontext()


def serving_dtype(device: torch.device) -> torch.dtype:
    """Weights' dtype for inference: bf16 on CUDA GPUs that support it, float32 elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32

