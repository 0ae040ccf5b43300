"""Offline evaluation of description writing against human descriptions of products the model never saw.

Metrics, all in plain Python (small and tested; no metrics library is installed):
- ROUGE-L: F1 of the longest common subsequence of words, per text, averaged (Lin, 2004).
- BLEU: corpus BLEU-4 with the brevity penalty, uniform weights, no smoothing (Papineni et al., 2002).
- coverage: of the product's colour, type and material facts, the share the text mentions (pooled).
- hallucination: the share of outputs that state a fact not in the input, by the grounding check, measured on
  what the pipeline finally keeps (after its regenerations). `first_pass_hallucination` is the same before.
- distinct-2: distinct word bigrams over all bigrams of all outputs (Li et al., 2016).
- mean_chars: mean output length.
- flagged: the share the pipeline leaves flagged for the merchant; completed: the share that ended with the
  plain sentence naming a colour, type or material the model left out (generation.py).
Words are lower-cased runs of letters and digits for every metric.
"""
from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from catalog.importers.myntra import OTHER, product_type
from copywriter import generation, grounding
from copywriter.prompts import ProductFacts
from copywriter.training import CatalogPair

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


# ---------------------------------------------------------------------------------------------- metrics


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, O(len(a) * len(b)) time, O(len(b)) memory."""
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 between two texts (0 when either is empty)."""
    c, r = words(candidate), words(reference)
    lcs = lcs_length(c, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(c), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(candidates: Sequence[str], references: Sequence[str], max_n: int = 4) -> float:
    """Corpus BLEU: clipped n-gram precisions pooled over the corpus, geometric mean, brevity penalty."""
    matches, totals = [0] * max_n, [0] * max_n
    candidate_length = reference_length = 0
    for candidate, reference in zip(candidates, references):
        c, r = words(candidate), words(reference)
        candidate_length += len(c)
        reference_length += len(r)
        for n in range(1, max_n + 1):
            c_grams, r_grams = _ngrams(c, n), _ngrams(r, n)
            matches[n - 1] += sum(min(count, r_grams[gram]) for gram, count in c_grams.items())
            totals[n - 1] += max(0, len(c) - n + 1)
    if candidate_length == 0 or any(m == 0 for m in matches):
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if candidate_length > reference_length else math.exp(1 - reference_length / candidate_length)
    return brevity * math.exp(log_precision)


def distinct_2(texts: Sequence[str]) -> float:
    bigrams = [gram for text in texts for gram in _ngrams(words(text), 2).elements()]
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0


# ------------------------------------------------------------------------------------------------ systems


def template_description(facts: ProductFacts) -> str:
    """The baseline: one sentence filled in from the facts, what a merchant writes with no model at all."""
    kind = product_type(facts.title, brand=facts.brand)
    noun = kind.label.lower() if kind is not OTHER else (words(facts.title) or ["item"])[-1]
    pattern, fit = facts.attribute("pattern"), facts.attribute("fit")
    text = " ".join(part for part in (facts.colour, pattern, noun) if part).capitalize()
    if fit:
        text += f" in a {fit} fit"
    return f"{text} from {facts.brand}."


@dataclass
class SystemOutputs:
    texts: list[str]
    first_pass_flagged: int
    flagged: int
    seconds: float
    completed: int = 0  # descriptions that got the naming sentence appended


def run_model(pairs: Sequence[CatalogPair], engine: generation.Engine, brands: set[str], batch_size: int,
              progress: Callable[[int], None] | None = None) -> SystemOutputs:
    """Neutral, medium-length descriptions through the shop's own pipeline (grounding check, regeneration)."""
    requests = [generation.CopyRequest(pair.facts, "description") for pair in pairs]
    texts, first_flagged, flagged, completed = [], 0, 0, 0
    started = time.perf_counter()
    for start in range(0, len(requests), batch_size):
        batch = requests[start : start + batch_size]
        results = generation.generate_copy(batch, engine=engine, known_brands=brands, batch_size=batch_size)
        texts.extend(result.text for result in results)
        first_flagged += sum(result.first_findings > 0 for result in results)
        flagged += sum(result.flagged for result in results)
        completed += sum(result.completed for result in results)
        if progress is not None:
            progress(len(batch))
    return SystemOutputs(texts, first_flagged, flagged, time.perf_counter() - started, completed)


def score(pairs: Sequence[CatalogPair], outputs: SystemOutputs, brands: set[str]) -> dict[str, float]:
    """The metrics of one system's outputs (see the module docstring)."""
    references = [" ".join(pair.description.split()) for pair in pairs]
    texts = outputs.texts
    n = len(texts)
    hallucinated = sum(bool(grounding.check(text, pair.facts.source_text(), brands)) for text, pair in zip(texts, pairs))
    mentioned = total = 0
    for text, pair in zip(texts, pairs):
        hit, count = grounding.coverage_counts(text, pair.facts)
        mentioned, total = mentioned + hit, total + count
    return {
        "rouge_l": round(sum(rouge_l(t, r) for t, r in zip(texts, references)) / n, 4),
        "bleu": round(corpus_bleu(texts, references), 4),
        "coverage": round(mentioned / total, 4) if total else 0.0,
        "hallucination": round(hallucinated / n, 4),
        "distinct_2": round(distinct_2(texts), 4),
        "mean_chars": round(sum(len(t) for t in texts) / n, 1),
        "first_pass_hallucination": round(outputs.first_pass_flagged / n, 4),
        "flagged": round(outputs.flagged / n, 4),
        "completed": round(outputs.completed / n, 4),
    }


def run_template(pairs: Sequence[CatalogPair]) -> SystemOutputs:
    texts = [template_description(pair.facts) for pair in pairs]
    return SystemOutputs(texts, 0, 0, 0.0)
