"""SmolLM2 wording a reply, built for the time to the first token.

On a CPU the first token costs one prefill of the prompt, and the prompt's cost is its token count. The
prompt is the fixed instruction, then the facts: the instruction is the same for every request, so its keys
and values are computed once per model and process (`warm`, or the first request) and copied into each
request's cache, and a request prefills only its facts (~60 instead of ~100 tokens for an FAQ answer). The
first token is yielded as soon as it is decoded; the rest follow one greedy step at a time.

Only llm_core's public steps are used (the model's cached forward, `decode_one_token`, `IncrementalDecoder`,
`quantize.bf16_twin` for the prefill).
With bf16_prefill off, greedy output equals llm_core.generate.stream's up to float rounding between a whole-prompt and a chunked
prefill. The model is read-only here: each request has its own cache, so threads may stream concurrently.
"""
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from llm_core import quantize
from llm_core.generate import IncrementalDecoder, decode_one_token

_SENTINEL = "\x00facts\x00"


@dataclass(frozen=True)
class PromptPrefix:
    """The instruction part of every prompt: its ids and its keys/values, (n_layer, 1, n_kv_head, P, head_dim)."""

    ids: tuple[int, ...]
    keys: torch.Tensor
    values: torch.Tensor


_prefixes: "weakref.WeakKeyDictionary[Any, dict[str, PromptPrefix]]" = weakref.WeakKeyDictionary()
_twins: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class PrefilledFacts:
    """A whole prompt already prefilled: keys/values of positions start..end and the first token it gives."""

    start: int
    keys: torch.Tensor  # (n_layer, 1, n_kv_head, end - start, head_dim)
    values: torch.Tensor
    first_token: int


_facts: "weakref.WeakKeyDictionary[Any, OrderedDict[tuple, PrefilledFacts]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def prefill_twin(model: Any) -> Any:
    """The model's bf16-matmul twin for prefills (built once per model), or the model itself where the CPU
    has no bf16 matmuls or the model is not float32 on the CPU."""
    twin = _twins.get(model)
    if twin is not None:
        return twin
    with _lock:
        if model not in _twins:
            _twins[model] = quantize.bf16_twin(model, skip=["lm_head"]) if quantize.bf16_supported(model) else model
        return _twins[model]


def prompt_messages(instruction: str, facts: str) -> list[dict[str, str]]:
    # The shopper's message is not in the prompt: the facts already answer it, and text a shopper wrote is
    # the one place an instruction to the model could hide.
    return [{"role": "system", "content": instruction}, {"role": "user", "content": facts}]


def prompt_ids(tokenizer: Any, instruction: str, facts: str) -> list[int]:
    return list(tokenizer.apply_chat_template(prompt_messages(instruction, facts), add_generation_prompt=True, tokenize=True))


def _instruction_ids(tokenizer: Any, instruction: str) -> list[int]:
    """The ids of the rendered prompt up to where the facts start (the same for every request)."""
    text = tokenizer.apply_chat_template(prompt_messages(instruction, _SENTINEL), add_generation_prompt=True)
    return list(tokenizer.encode(text[: text.index(_SENTINEL)]))


def prompt_prefix(model: Any, tokenizer: Any, instruction: str) -> PromptPrefix:
    """The instruction's keys and values for this model, computed once per process."""
    per_model = _prefixes.get(model)
    if per_model is not None and instruction in per_model:
        return per_model[instruction]
    with _lock:
        per_model = _prefixes.setdefault(model, {})
        if instruction not in per_model:
            ids = _instruction_ids(tokenizer, instruction)
            cache = model.new_cache(1, len(ids))
            with torch.inference_mode():
                model(torch.tensor([ids], device=model.embed_tokens.weight.device), cache=cache, start_pos=0, last_only=True)
            per_model[instruction] = PromptPrefix(tuple(ids), cache.keys, cache.values)
        return per_model[instruction]


def _cached_length(ids: Sequence[int], prefix: PromptPrefix) -> int:
    """How many leading ids the prefix covers: all of its own when the prompt starts with them (a BPE merge
    across the boundary would break that: then none), always leaving at least one id to prefill."""
    n = len(prefix.ids)
    return n if len(ids) > n and tuple(ids[:n]) == prefix.ids else 0


def _facts_get(model: Any, key: tuple) -> PrefilledFacts | None:
    with _lock:
        entries = _facts.get(model)
        if entries is None or key not in entries:
            return None
        entries.move_to_end(key)
        return entries[key]


def _facts_put(model: Any, key: tuple, entry: PrefilledFacts, size: int) -> None:
    with _lock:
        entries = _facts.setdefault(model, OrderedDict())
        entries[key] = entry
        entries.move_to_end(key)
        while len(entries) > size:
            entries.popitem(last=False)


def stream_wording(
    model: Any, tokenizer: Any, *, instruction: str, facts: str, max_new_tokens: int, bf16_prefill: bool = True,
    facts_cache_size: int = 32,
) -> Iterator[str]:
    """Greedy text for the facts under the instruction, in pieces as it is decoded; stops at EOS or
    max_new_tokens. The first piece comes straight after the facts' prefill (by the bf16 twin when
    `bf16_prefill` and the CPU has bf16 matmuls), or at once for facts among the last `facts_cache_size`."""
    ids = prompt_ids(tokenizer, instruction, facts)
    context = model.config.max_seq_len
    if len(ids) >= context:
        raise ValueError(f"the prompt has {len(ids)} tokens, which leaves no room in the context of {context}")
    steps = min(max_new_tokens, context - len(ids))
    prefix = prompt_prefix(model, tokenizer, instruction)
    start = _cached_length(ids, prefix)
    device = model.embed_tokens.weight.device
    cache = model.new_cache(1, len(ids) + steps - 1)
    if start:
        cache.keys[:, :, :, :start] = prefix.keys
        cache.values[:, :, :, :start] = prefix.values
    use_twin = bf16_prefill and quantize.bf16_supported(model)
    key = (instruction, facts, use_twin)
    known = _facts_get(model, key) if facts_cache_size > 0 else None
    if known is not None and known.start == start:
        cache.keys[:, :, :, start : len(ids)] = known.keys
        cache.values[:, :, :, start : len(ids)] = known.values
        token = torch.tensor([known.first_token], device=device)
    else:
        prefill_model = prefill_twin(model) if use_twin else model
        with torch.inference_mode():
            logits, _ = prefill_model(torch.tensor([ids[start:]], device=device), cache=cache, start_pos=start, last_only=True)
            token = logits[:, -1].argmax(-1)  # (1,)
        if facts_cache_size > 0:
            entry = PrefilledFacts(start, cache.keys[:, :, :, start : len(ids)].clone(),
                                   cache.values[:, :, :, start : len(ids)].clone(), int(token.item()))
            _facts_put(model, key, entry, facts_cache_size)
    eos = tokenizer.eos_id
    decoder = IncrementalDecoder(tokenizer)
    pos = len(ids)
    for step in range(steps):
        token_id = int(token.item())
        if token_id == eos:
            break
        piece = decoder.push(token_id)
        if piece:
            yield piece
        if step == steps - 1:
            break
        token = decode_one_token(model, token, cache, pos).argmax(-1)
        pos += 1
    tail = decoder.flush()
    if tail:
        yield tail


def warm(model: Any, tokenizer: Any, instruction: str, *, bf16_prefill: bool = True) -> None:
    """Load-time work done before the first shopper waits for it: the instruction's cache, the bf16 twin and
    a few short generations (first calls into the matmul kernels, at each new shape, are slower)."""
    prompt_prefix(model, tokenizer, instruction)
    if bf16_prefill:
        prefill_twin(model)
    for facts in ("Delivery takes 3 to 5 days.", "Standard delivery reaches most Indian cities in 3 to 5 working days, "
                  "and remote pin codes in up to 7. Your order page shows the expected date once the parcel ships."):
        for _ in stream_wording(model, tokenizer, instruction=instruction, facts=facts, max_new_tokens=2,
                                bf16_prefill=bf16_prefill, facts_cache_size=0):
            pass
