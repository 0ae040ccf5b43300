"""Training and evaluation of the intent and slot models (chatbot.intents), in plain torch.

Both kinds hold back a validation slice of their training data to calibrate the out-of-scope threshold:
the probability below which the top intent is not trusted. It is set so that about 1% of in-scope
validation utterances fall under it; the held-out test split is never looked at here.
"""
import math
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from chatbot.intent_data import LABELS, OUT_OF_SCOPE, Example
from chatbot.intents import TAGS, IntentModel, WordPieces, build_module, minilm_tokenizer_file
from llm_core.embeddings import embed
from llm_core.registry import write_model_files

THRESHOLD_QUANTILE = 0.01
# Never demand more than this: a clear top intent at 0.35 over 30 labels is still a real signal.
THRESHOLD_CAP = 0.35


def _class_weights(intents: list[str]) -> torch.Tensor:
    # Inverse square root of the frequency: Bitext's payment_issue has 30x the rows of cancel_order, and the
    # shipped shop intents have a dozen each; full inverse weighting would overfit those dozen.
    counts = Counter(intents)
    weights = torch.tensor([(counts.get(label, 0) or 1) ** -0.5 for label in LABELS])
    return weights / weights[[LABELS.index(i) for i in counts]].mean()


def _validation_split(examples: list[Example], seed: int, fraction: float = 0.1) -> tuple[list[Example], list[Example]]:
    shuffled = examples[:]
    random.Random(seed).shuffle(shuffled)
    cut = max(1, round(len(shuffled) * fraction))
    return shuffled[cut:], shuffled[:cut]


def _calibrate(model: IntentModel, validation: list[Example]) -> float:
    in_scope = [e for e in validation if e.intent != OUT_OF_SCOPE]
    if not in_scope:
        return 0.0
    model.threshold = 0.0
    confidences = sorted(u.confidence for u in model.predict_batch([e.text for e in in_scope]))
    return min(THRESHOLD_CAP, confidences[int(len(confidences) * THRESHOLD_QUANTILE)])


def _warmup_cosine(optimizer: torch.optim.Optimizer, steps: int, warmup: float = 0.1) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over the first 10% of steps, then cosine decay to zero."""
    warmup_steps = max(1, int(steps * warmup))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    return list(torch.randperm(n, generator=generator).split(batch_size))


def train_embedding_model(
    examples: list[Example], *, hidden: int = 512, epochs: int = 30, lr: float = 2e-3, batch_size: int = 128,
    seed: int = 0, progress: bool = True, device: str = "cpu",
) -> tuple[IntentModel, dict]:
    """A classifier on frozen MiniLM embeddings (hidden=0: logistic regression). Returns (model, info);
    the model is on the CPU whatever `device` trained it."""
    torch.manual_seed(seed)
    train, validation = _validation_split(examples, seed)
    started = time.perf_counter()
    vectors = torch.as_tensor(embed([e.text for e in train]), dtype=torch.float32).to(device)
    targets = torch.tensor([LABELS.index(e.intent) for e in train], device=device)
    embed_seconds = time.perf_counter() - started
    config = {"kind": "embedding", "labels": list(LABELS), "hidden": hidden, "dropout": 0.2, "threshold": 0.0}
    module = build_module("embedding", config).to(device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=1e-4)
    weights = _class_weights([e.intent for e in train]).to(device)
    generator = torch.Generator().manual_seed(seed)
    steps = epochs * len(_batches(len(train), batch_size, generator))
    scheduler = _warmup_cosine(optimizer, steps)
    module.train()
    bar = tqdm(total=steps, desc="intent (embedding)", disable=not progress, unit="step")
    for _ in range(epochs):
        for batch in _batches(len(train), batch_size, generator):
            loss = F.cross_entropy(module(vectors[batch]), targets[batch], weight=weights, label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model = IntentModel("embedding", module.cpu(), config)
    config["threshold"] = model.threshold = _calibrate(model, validation)
    info = {"train_examples": len(train), "embed_seconds": round(embed_seconds, 1),
            "train_seconds": round(time.perf_counter() - started, 1), "parameters": _count(module)}
    return model, info


def _tag_targets(example: Example, offsets: list[tuple[int, int]], width: int) -> list[int]:
    """BIO tag ids for one example's tokens; -100 (ignored) everywhere when the source has no span labels."""
    if example.spans is None:
        return [-100] * width
    tags = [0] * width
    for start, end, slot in example.spans:
        if f"B-{slot}" not in TAGS:
            continue
        inside = [i for i, (s, e) in enumerate(offsets) if s < end and e > start]
        for position, index in enumerate(inside):
            tags[index] = TAGS.index(f"{'B' if position == 0 else 'I'}-{slot}")
    for index in range(len(offsets), width):
        tags[index] = -100
    return tags


def train_encoder_model(
    examples: list[Example], *, n_layer: int = 2, n_embd: int = 128, n_head: int = 4, epochs: int = 4,
    lr: float = 2e-3, batch_size: int = 64, max_len: int = 40, seed: int = 0, progress: bool = True,
    device: str = "cpu",
) -> tuple[IntentModel, dict]:
    """A small Transformer encoder from llm_core blocks, trained from scratch on intents and slot tags;
    the model is on the CPU whatever `device` trained it."""
    torch.manual_seed(seed)
    train, validation = _validation_split(examples, seed)
    started = time.perf_counter()
    wordpieces = WordPieces.fit([e.text for e in train], max_len)
    config = {
        "kind": "encoder", "labels": list(LABELS), "threshold": 0.0, "vocab": wordpieces.vocab,
        "encoder": {
            "vocab_size": len(wordpieces.vocab) + 2, "n_layer": n_layer, "n_embd": n_embd, "n_head": n_head,
            "n_kv_head": n_head, "intermediate_size": n_embd * 8 // 3, "max_seq_len": max_len, "dropout": 0.1,
            "rope_theta": 10000.0, "tie_embeddings": False,
        },
    }
    module = build_module("encoder", config).to(device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=0.01)
    weights = _class_weights([e.intent for e in train]).to(device)
    generator = torch.Generator().manual_seed(seed)
    steps = epochs * len(_batches(len(train), batch_size, generator))
    scheduler = _warmup_cosine(optimizer, steps)
    module.train()
    bar = tqdm(total=steps, desc="intent+slots (encoder)", disable=not progress, unit="step")
    for _ in range(epochs):
        for batch in _batches(len(train), batch_size, generator):
            chosen = [train[i] for i in batch.tolist()]
            ids, padding, offsets = wordpieces.encode([e.text for e in chosen])
            targets = torch.tensor([LABELS.index(e.intent) for e in chosen], device=device)
            tags = torch.tensor([_tag_targets(e, o, ids.size(1)) for e, o in zip(chosen, offsets)], device=device)
            intent_logits, tag_logits = module(ids.to(device), padding.to(device))
            loss = F.cross_entropy(intent_logits, targets, weight=weights, label_smoothing=0.05)
            if (tags != -100).any():
                loss = loss + F.cross_entropy(tag_logits.reshape(-1, len(TAGS)), tags.reshape(-1), ignore_index=-100)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model = IntentModel("encoder", module.cpu(), config, wordpieces)
    config["threshold"] = model.threshold = _calibrate(model, validation)
    info = {"train_examples": len(train), "train_seconds": round(time.perf_counter() - started, 1),
            "parameters": _count(module)}
    return model, info


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def classification_metrics(gold: list[str], predicted: list[str]) -> dict:
    """Accuracy, macro-F1 over the gold labels, and out-of-scope figures (false rejections of in-scope
    utterances; recall on utterances labelled out_of_scope, when there are any)."""
    n = len(gold)
    accuracy = sum(g == p for g, p in zip(gold, predicted)) / n if n else 0.0
    f1s = []
    for label in sorted(set(gold)):
        tp = sum(g == p == label for g, p in zip(gold, predicted))
        fp = sum(p == label != g for g, p in zip(gold, predicted))
        fn = sum(g == label != p for g, p in zip(gold, predicted))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    in_scope = [(g, p) for g, p in zip(gold, predicted) if g != OUT_OF_SCOPE]
    oos = [(g, p) for g, p in zip(gold, predicted) if g == OUT_OF_SCOPE]
    rejected = sum(p == OUT_OF_SCOPE for _, p in in_scope)
    out_of_scope = {
        "in_scope_utterances": len(in_scope),
        "in_scope_rejected": rejected,
        "in_scope_rejection_rate": round(rejected / len(in_scope), 4) if in_scope else 0.0,
        "in_scope_accuracy": round(sum(g == p for g, p in in_scope) / len(in_scope), 4) if in_scope else 0.0,
        "oos_utterances": len(oos),
        "oos_recall": round(sum(p == OUT_OF_SCOPE for _, p in oos) / len(oos), 4) if oos else None,
    }
    return {"utterances": n, "accuracy": round(accuracy, 4), "macro_f1": round(sum(f1s) / len(f1s), 4) if f1s else 0.0,
            "out_of_scope": out_of_scope}


def slot_metrics(model: IntentModel, examples: list[Example], slot: str = "order_id") -> dict:
    """Exact-match precision/recall/F1 of `slot` values on examples with span labels (the 4.5K release)."""
    labelled = [e for e in examples if e.spans is not None]
    if not labelled:
        return {}
    predictions = model.predict_batch([e.text for e in labelled])
    tp = fp = fn = 0
    for example, understanding in zip(labelled, predictions):
        gold = {example.text[s:e].strip().lstrip("#").strip() for s, e, t in example.spans if t == slot}
        found = {understanding.slots[slot]} if slot in understanding.slots else set()
        tp += len(gold & found)
        fp += len(found - gold)
        fn += len(gold - found)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"slot": slot, "examples": len(labelled), "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(f1, 4)}


def evaluate_model(model: IntentModel, examples: list[Example]) -> dict:
    started = time.perf_counter()
    predicted = [u.intent for u in model.predict_batch([e.text for e in examples])]
    metrics = classification_metrics([e.intent for e in examples], predicted)
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    return metrics


def save_model(model: IntentModel, directory: Path) -> Path:
    """config.json + model.safetensors (+ a copy of MiniLM's tokenizer.json for the encoder) for the registry."""
    write_model_files(directory, model.module, model.config)
    if model.kind == "encoder":
        shutil.copyfile(minilm_tokenizer_file(), Path(directory) / "tokenizer.json")
    return Path(directory)
