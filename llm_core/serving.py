"""One instance of each served model per process, loaded on first use and shared by every thread.

Loading is guarded by a lock per key, so concurrent first requests load once; afterwards a lookup is a dict
read. The models are used read-only (each request allocates its own KV cache), so threads may generate
concurrently without further locking.

Environment: LLM_DEVICE (auto|cpu|cuda|cuda:N), MODEL_DIR, and LLM_QUANTIZE=int8 to serve int8 weights on
CPU (about 2x faster per token than float32, ~1% perplexity cost on SmolLM2; see llm_core.quantize).
Greedy single-prompt requests can pass get_base_draft() as generate(..., draft=) for speculative decoding.
"""
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from llm_core.device import configure_cpu_threads, resolve_device, serving_dtype
from llm_core.model import Transformer
from llm_core.tokenizer import Tokenizer

T = TypeVar("T")

_loaded: dict[str, object] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def get_or_load(key: str, loader: Callable[[], T]) -> T:
    """The process-wide instance for key, calling loader() exactly once (per process) to create it."""
    if key in _loaded:
        return _loaded[key]  # type: ignore[return-value]
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _loaded:  # another thread may have loaded it while we waited
            _loaded[key] = loader()
    return _loaded[key]  # type: ignore[return-value]


def forget(key: str | None = None) -> None:
    """Drop one loaded instance (or all), e.g. after activating a new model version or in tests."""
    with _locks_guard:
        if key is None:
            _loaded.clear()
        else:
            _loaded.pop(key, None)


def load_base_model() -> tuple[Transformer, Tokenizer]:
    """SmolLM2-135M-Instruct on the configured device in its serving format.

    CUDA: bf16 weights. CPU: oneDNN-packed float32 (the same numbers, faster matmuls), or int8 weights with
    LLM_QUANTIZE=int8.
    """
    from llm_core.quantize import pack_float32, quantize_int8
    from llm_core.smollm2 import load_smollm2

    quantize = os.environ.get("LLM_QUANTIZE", "").strip().lower()
    if quantize not in ("", "none", "int8"):
        raise ValueError(f"unknown LLM_QUANTIZE {quantize!r}: use int8 or none")
    device = resolve_device()
    if device.type == "cpu":
        configure_cpu_threads()
    model, tokenizer = load_smollm2(device=device, dtype=serving_dtype(device))
    if device.type == "cpu" and quantize == "int8":
        quantize_int8(model)
    elif device.type == "cpu":
        pack_float32(model)
    return model, tokenizer


def get_base_model() -> tuple[Transformer, Tokenizer]:
    """(model, tokenizer) for the pretrained base model, loaded once per process."""
    return get_or_load("base/smollm2-135m-instruct", load_base_model)


def get_base_draft() -> Transformer | None:
    """An int4 draft of the base model for speculative greedy decoding (generate(..., draft=...)), or None.

    Only for the float32 model on CPU, where one token's cost is reading the weights, so verifying a few drafted
    tokens costs about one token: greedy single-prompt generation ran ~1.3-1.5x faster with the same tokens.
    Not for the int8 model (the draft reads ~60% of its bytes per token, and int8 greedy decoding with this
    draft measured 12-20% slower than without, num_draft 2-4), nor on CUDA (untested there), nor on CPUs
    without AVX-512 (quantize.int4_drafts_help).
    """
    from llm_core.quantize import PackedLinear, int4_drafts_help

    model, _ = get_base_model()
    if not isinstance(model.lm_head, PackedLinear) or not int4_drafts_help():
        return None
    return get_or_load("base/smollm2-135m-instruct/int4-draft", lambda: _load_draft(model))


def _load_draft(model: Transformer) -> Transformer:
    from llm_core.quantize import int4_draft
    from llm_core.smollm2 import load_smollm2

    plain, _ = load_smollm2()  # the served model is packed and cannot be copied; convert a fresh load
    draft = int4_draft(plain, inplace=True)
    draft.embed_tokens = model.embed_tokens  # share the served model's (read-only) embedding
    return draft
