"""Batched copy generation through llm_core, with the grounding check and regeneration on every output.

Which model writes: the active "copywriter" registry version (SmolLM2 + LoRA adapters, merged once per
process) for the kinds it was trained on, otherwise the base SmolLM2 zero-shot, which is all a fresh machine
has. Both run wherever llm_core's device rules put them (CUDA when present, else CPU) and are loaded once per
process through llm_core.serving.

Every text is cleaned (plain text, length limits) and checked against the product's facts. Rows with findings
(or nothing usable), and descriptions that leave out the product's colour, type or material, are generated
again, batched, by sampling with a new seed, up to `max_attempts` in all; the attempt with the fewest findings
is kept, then the one naming most of those facts. When the kept one still has findings, the clauses stating
them are dropped if what remains still names the product; otherwise it is kept as it is and flagged for the
merchant. A description still silent on its colour, type or material ends with one plain sentence naming them
(built from the facts alone, so it cannot invent anything).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from copywriter import adapters, grounding
from copywriter.prompts import ProductFacts, build_messages
from llm_core import serving
from llm_core.generate import generate
from llm_core.model import Transformer
from llm_core.registry import Registry, RegistryError
from llm_core.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

TASK = "copywriter"
BASE_VERSION = "base"
# Enough for the longest text each kind may keep (clean_output cuts to the exact limit).
_MAX_NEW_TOKENS = {"promo": 48, "seo_title": 32, "seo_meta": 64, "bullets": 160}
_DESCRIPTION_TOKENS = {"short": 48, "medium": 80, "long": 192}
_RETRY_TEMPERATURE = 0.7  # enough variety for a retry to differ; the first attempt is greedy


@dataclass(frozen=True)
class CopyRequest:
    facts: ProductFacts
    kind: str
    tone: str = "neutral"
    length: str = "medium"
    instructions: str = ""


@dataclass
class CopyResult:
    text: str
    findings: list[grounding.Finding]
    attempts: int
    model_version: str
    unnamed: int = 0  # descriptions: how many of the product's colour, type and materials the text leaves out
    first_findings: int = 0  # findings in the first attempt's text, before any regeneration or repair
    completed: bool = False  # a description that got grounding.naming_sentence appended (see _generate_batch)

    @property
    def flagged(self) -> bool:
        return bool(self.findings) or not self.text


@dataclass(frozen=True)
class Engine:
    """A loaded model that writes copy: `kinds` it was trained for (None: the base model, any kind)."""

    model: Transformer
    tokenizer: Tokenizer
    version: str
    kinds: frozenset[str] | None = field(default=None)


# ------------------------------------------------------------------------------------------------- models


def base_engine() -> Engine:
    """The pretrained SmolLM2, shared with the rest of the process (llm_core.serving)."""
    model, tokenizer = serving.get_base_model()
    return Engine(model, tokenizer, BASE_VERSION)


def active_version() -> str | None:
    """The active fine-tuned version's name, or None (a fresh machine)."""
    try:
        return Registry(settings.MODEL_DIR).active_version(TASK)
    except RegistryError:
        return None


def finetuned_engine(version: str) -> Engine:
    """A registered version: SmolLM2 with its adapters merged, loaded once per process."""
    return serving.get_or_load(f"{TASK}/{version}", lambda: _load_finetuned(version))


def _load_finetuned(version: str) -> Engine:
    from llm_core.device import configure_cpu_threads, resolve_device, serving_dtype
    from llm_core.lora import merge_lora
    from llm_core.smollm2 import load_smollm2

    artifact = Registry(settings.MODEL_DIR).load_artifact(TASK, version)
    device = resolve_device()
    if device.type == "cpu":
        configure_cpu_threads()
    model, tokenizer = load_smollm2(settings.MODEL_DIR, device=device)
    adapters.load(model, artifact.weights_file)
    merge_lora(model)
    model = model.to(serving_dtype(device)).eval()
    if device.type == "cpu" and os.environ.get("LLM_QUANTIZE", "").strip().lower() == "int8":
        from llm_core.quantize import quantize_int8

        quantize_int8(model)  # as llm_core.serving serves the base model under the same setting
    return Engine(model, tokenizer, version, frozenset(artifact.config["kinds"]))


def engine_for(kind: str) -> Engine:
    """The model that writes `kind`: the active version if it was trained for it, else the base model. A
    version that cannot be loaded is logged and skipped, so generation never stops for a bad artifact."""
    version = active_version()
    if version is not None:
        try:
            engine = finetuned_engine(version)
        except (RegistryError, OSError, ValueError, KeyError):
            logger.exception("copywriter version %s could not be loaded; using the base model", version)
        else:
            if engine.kinds is None or kind in engine.kinds:
                return engine
    return base_engine()


# --------------------------------------------------------------------------------------------- generating


def max_new_tokens(kind: str, length: str) -> int:
    return _DESCRIPTION_TOKENS.get(length, _DESCRIPTION_TOKENS["medium"]) if kind == "description" else _MAX_NEW_TOKENS[kind]


def _complete(engine: Engine, requests: Sequence[CopyRequest], attempt: int) -> list[str]:
    """Raw model text for each request, in one left-padded batch; greedy on attempt 0, sampled after."""
    tokenizer = engine.tokenizer
    prompts = [
        tokenizer.apply_chat_template(
            build_messages(r.facts, kind=r.kind, tone=r.tone, length=r.length, instructions=r.instructions),
            add_generation_prompt=True, tokenize=True,
        )
        for r in requests
    ]
    sampled = attempt > 0
    results = generate(
        engine.model, tokenizer, prompts,
        max_new_tokens=max(max_new_tokens(r.kind, r.length) for r in requests),
        temperature=_RETRY_TEMPERATURE if sampled else 0.0, top_p=0.9 if sampled else None,
        seed=attempt if sampled else None,
    )
    # A text stopped by the token limit ends mid-clause: keep it up to its last complete sentence or clause.
    return [
        grounding.cut_to(result.text, len(result.text) - 1) if result.finish_reason == "length" else result.text
        for result in results
    ]


def generate_copy(
    requests: Sequence[CopyRequest],
    *,
    engine: Engine | None = None,
    known_brands: Iterable[str] = (),
    batch_size: int = 8,
    max_attempts: int | None = None,
    first_attempt: int = 0,
) -> list[CopyResult]:
    """Copy for each request, in order: batches of `batch_size`, each output cleaned and grounding-checked,
    failing rows regenerated. `engine` defaults to engine_for(kind) per request; `first_attempt` > 0 starts
    with sampling (a merchant's "regenerate" wants a different text, not the same greedy one)."""
    attempts_allowed = max_attempts or int(getattr(settings, "COPY_MAX_ATTEMPTS", 3))
    brands = frozenset(known_brands)
    results: list[CopyResult | None] = [None] * len(requests)
    groups: dict[str, list[int]] = {}
    engines: dict[str, Engine] = {}
    for index, request in enumerate(requests):
        chosen = engine or engine_for(request.kind)
        engines[chosen.version] = chosen
        groups.setdefault(chosen.version, []).append(index)
    for version, indices in groups.items():
        for start in range(0, len(indices), batch_size):
            batch = indices[start : start + batch_size]
            for index, result in zip(batch, _generate_batch(engines[version], [requests[i] for i in batch], brands,
                                                            attempts_allowed, first_attempt)):
                results[index] = result
    return [result for result in results if result is not None]


def _generate_batch(
    engine: Engine, requests: Sequence[CopyRequest], brands: frozenset[str], max_attempts: int, first_attempt: int
) -> list[CopyResult]:
    best: list[CopyResult | None] = [None] * len(requests)
    todo = list(range(len(requests)))
    for attempt in range(first_attempt, first_attempt + max_attempts):
        texts = _complete(engine, [requests[i] for i in todo], attempt)
        for index, raw in zip(todo, texts):
            request = requests[index]
            text = grounding.clean_output(raw, request.kind, request.length)
            findings = grounding.check(text, request.facts.source_text(), brands)
            previous = best[index]
            candidate = CopyResult(
                text, findings, attempt - first_attempt + 1, engine.version, _unnamed(text, request),
                first_findings=len(findings) if previous is None else previous.first_findings,
            )
            if previous is None or _worse(previous, candidate):
                best[index] = candidate
            else:
                previous.attempts = candidate.attempts
        todo = [i for i in todo if best[i] is not None and (best[i].flagged or best[i].unnamed)]
        if not todo:
            break
    for index in todo:  # still flagged or incomplete after every attempt: repair what can be repaired
        result = best[index]
        repaired = result.flagged and result.text and grounding.without_ungrounded_clauses(
            result.text, requests[index].facts.source_text(), brands
        )
        if repaired:  # drop the clauses that state the unsupported facts
            result.text, result.findings, result.unnamed = repaired, [], _unnamed(repaired, requests[index])
        if result.unnamed and not result.flagged:  # still silent on colour, type or material: say them plainly
            completed = f"{result.text} {grounding.naming_sentence(requests[index].facts)}"
            if len(completed) <= grounding.length_limit("description", requests[index].length):
                result.text, result.unnamed, result.completed = completed, 0, True
    return [result for result in best if result is not None]


def _unnamed(text: str, request: CopyRequest) -> int:
    if request.kind != "description" or not text:
        return 0
    named, wanted = grounding.coverage_counts(text, request.facts)
    return wanted - named


def _worse(kept: CopyResult, candidate: CopyResult) -> bool:
    """Whether the candidate should replace the kept result: something beats nothing, fewer findings win, then
    fewer of the product's main facts left unnamed."""
    if not kept.text or not candidate.text:
        return bool(candidate.text) and not kept.text
    return (len(candidate.findings), candidate.unnamed) < (len(kept.findings), kept.unnamed)


def device_name() -> str:
    """Where generation runs in this process ("cpu", "cuda"), for reports."""
    from llm_core.device import resolve_device

    return resolve_device().type
