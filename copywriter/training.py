"""LoRA fine-tuning of SmolLM2-135M-Instruct on (product facts -> human description) pairs.

Pairs come from a catalog file with the Myntra columns or from the imported products. A fixed set of
products (1,000 by default) is kept out of training, chosen by hashing each product's id, so the held-out set
is the same on every run and whichever source the products come from; it is written as a CSV under var/ for
`evaluate_copywriter --catalog`.

Targets are made faithful before training: a human description's clauses that state a fact the input does
not (a material the title never names, "and 1 patch pocket", "Warranty: 2 years") are dropped, and a pair
whose first clause does so is skipped. Training on them would teach the model to invent exactly what the
grounding check rejects. Pairs whose description leaves out the product's colour, type or material are
skipped too (about one in eight): merchants want copy that names them. The run stops at max_steps or at the time budget, whichever comes first (the cosine schedule is
stretched to the steps the budget allows), and registers the adapters as a new "copywriter" version.
"""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from django.conf import settings

from catalog.importers.base import read_csv
from catalog.importers.myntra import parse as parse_myntra
from catalog.services import ProductRecord
from copywriter import adapters, grounding, selectors
from copywriter.prompts import ProductFacts, build_messages, facts_from_record, length_of
from llm_core.data import IGNORE_INDEX, BatchLoader, chat_example, collate, eval_batches
from llm_core.lora import LoRAConfig
from llm_core.model import Transformer, positions_for
from llm_core.registry import Registry
from llm_core.train import LossFn, TrainConfig, Trainer

TASK = "copywriter"
BASE_MODEL = "smollm2-135m-instruct"
MYNTRA_COLUMNS = [
    "Product_ID", "Product_Name", "Product_Brand", "Gender", "Price", "Num_Images", "Description", "Primary_Color"
]
TRAINED_KINDS = ["description"]


@dataclass(frozen=True)
class CatalogPair:
    """One product's facts and its human-written description; `key` is its source id (the Myntra Product_ID)."""

    key: str
    facts: ProductFacts
    description: str
    row: dict[str, str]  # the product in Myntra columns, for the held-out CSV


@dataclass
class TrainOptions:
    out_dir: Path
    catalog: Path | None = None  # None: the imported products
    max_steps: int = 400
    time_budget_s: float | None = None
    batch_size: int = 4
    lr: float = 1e-3
    warmup_steps: int = 4
    rank: int = 16
    adapted_layers: int = 10  # the top blocks that get adapters
    max_len: int = 192  # tokens per example, prompt included
    held_out: int = 1000
    eval_examples: int = 16
    seed: int = 0
    bf16: bool = False  # autocast on CPU too (AVX-512 BF16 / AMX machines); CUDA always uses it
    device: str | None = None
    activate: bool = True
    progress: bool = True
    init_from: str | None = None  # a registered version whose adapters training continues from


@dataclass
class TrainReport:
    version: str
    metrics: dict[str, object]
    held_out_csv: Path
    train_pairs: int


# ------------------------------------------------------------------------------------------------ data


def held_out_rank(key: str) -> str:
    """A product's place in the held-out order: the lowest hashes are held out. Hashing (not shuffling) keeps
    a product's side of the split fixed whatever else the catalog holds."""
    return hashlib.sha1(f"copywriter-held-out:{key}".encode()).hexdigest()


def split_held_out(pairs: Sequence[CatalogPair], count: int) -> tuple[list[CatalogPair], list[CatalogPair]]:
    """(training pairs, held-out pairs): the `count` pairs with the lowest hash are held out."""
    ordered = sorted(pairs, key=lambda pair: held_out_rank(pair.key))
    held = {pair.key for pair in ordered[:count]}
    return [p for p in pairs if p.key not in held], [p for p in pairs if p.key in held]


def read_catalog(path: str | Path) -> list[CatalogPair]:
    """Pairs from a CSV with the Myntra columns (rows the importer rejects, or without a description, skipped)."""
    raw = {row.line: row.data for row in read_csv(Path(path))}
    pairs = []
    for record in parse_myntra(read_csv(Path(path))):
        if isinstance(record, ProductRecord) and record.description.strip():
            key = record.external_id.removeprefix("myntra:")
            pairs.append(CatalogPair(key, facts_from_record(record), record.description, _myntra_row(raw[record.line])))
    return pairs


def _myntra_row(data: dict[str, object]) -> dict[str, str]:
    return {column: str(data.get(column, "") or "") for column in MYNTRA_COLUMNS}


def stored_pairs() -> list[CatalogPair]:
    """Pairs from the imported products that have a description; keyed like the file they came from."""
    pairs = []
    for product, facts in selectors.products_with_facts(described_only=True):
        key = (product.external_id or f"product:{product.pk}").removeprefix("myntra:")
        row = {
            "Product_ID": key, "Product_Name": product.title, "Product_Brand": product.brand,
            "Gender": product.get_audience_display() if product.audience else "", "Price": f"{product.price:f}",
            "Num_Images": str((product.attributes or {}).get("images", "")), "Description": product.description,
            "Primary_Color": product.colour,
        }
        pairs.append(CatalogPair(key, facts, product.description, row))
    return pairs


def write_catalog_csv(pairs: Iterable[CatalogPair], path: Path) -> Path:
    """The pairs as a CSV with the Myntra columns (what evaluate_copywriter --catalog reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MYNTRA_COLUMNS)
        writer.writeheader()
        writer.writerows(pair.row for pair in pairs)
    return path


def training_target(pair: CatalogPair, known_brands: Iterable[str]) -> str | None:
    """The description as the model should learn to write it: faithful (the clauses stating facts the input
    lacks dropped; None when the first clause does, as it names the product) and complete (None unless it
    names the product's colour, type and materials). None too when too little is left to teach anything."""
    kept = grounding.without_ungrounded_clauses(" ".join(pair.description.split()), pair.facts.source_text(), known_brands)
    text = grounding.cut_to(kept or "", grounding.length_limit("description", "long"))
    mentioned, wanted = grounding.coverage_counts(text, pair.facts)
    return text if len(text) >= 20 and mentioned == wanted else None


def training_messages(facts: ProductFacts, target: str) -> list[dict[str, str]]:
    """The conversation a training pair becomes: the shop's own prompt (neutral tone, the target's length
    bucket) and the faithful description as the reply."""
    messages = build_messages(facts, kind="description", tone="neutral", length=length_of(target))
    return [*messages, {"role": "assistant", "content": target}]


# ----------------------------------------------------------------------------------------------- model


def top_layers_loss(frozen_layers: int) -> LossFn:
    """Next-token loss that runs the frozen bottom blocks without autograd and projects onto the vocabulary
    only where a loss is taken (the reply), skipping most of the 49k-wide head's work."""

    def loss(model: Transformer, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        input_ids, targets = batch["input_ids"], batch["targets"]
        batch_size, length = input_ids.shape
        positions = positions_for(None, batch_size, length, 0, input_ids.device)  # (B, T)
        cos, sin = model.rope_cos[positions].unsqueeze(1), model.rope_sin[positions].unsqueeze(1)  # (B, 1, T, D)
        with torch.no_grad():
            hidden = model.embed_tokens(input_ids)
            for block in model.layers[:frozen_layers]:
                hidden = block(hidden, cos, sin)
        for block in model.layers[frozen_layers:]:
            hidden = block(hidden, cos, sin)
        trained = targets != IGNORE_INDEX  # (B, T)
        logits = model.lm_head(model.norm(hidden)[trained])  # (N, V) for the N trained positions
        return F.cross_entropy(logits.float(), targets[trained])

    return loss


class _BudgetedTrainer(Trainer):
    """A Trainer that ends when its time budget runs out: after each step it re-estimates how many steps fit
    and lowers max_steps to that, which also stretches the cosine schedule over the steps that will run."""

    def __init__(self, *args: object, time_budget_s: float | None, **kwargs: object):
        super().__init__(*args, **kwargs)
        self.started = time.monotonic()
        self.first_step = self.step
        self.step_cap = self.config.max_steps  # the estimate may go up again when steps speed up
        self.time_budget_s = time_budget_s

    def train_step(self) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        result = super().train_step()
        if self.time_budget_s is not None:
            done = self.step + 1 - self.first_step  # fit() counts this step after train_step returns
            elapsed = time.monotonic() - self.started
            fits = int(self.time_budget_s / (elapsed / done))
            self.config.max_steps = max(self.step + 1, min(self.step_cap, self.first_step + fits))
        return result


# ------------------------------------------------------------------------------------------------- run


def train(options: TrainOptions) -> TrainReport:
    """Fine-tune, register (and by default activate) a copywriter version; see the module docstring."""
    from llm_core.device import resolve_device
    from llm_core.smollm2 import load_smollm2

    pairs = read_catalog(options.catalog) if options.catalog else stored_pairs()
    if len(pairs) <= options.held_out:
        raise ValueError(f"{len(pairs)} products with descriptions; more than {options.held_out} are needed")
    train_pairs, held_out = split_held_out(pairs, options.held_out)
    held_out_csv = write_catalog_csv(held_out, Path(settings.VAR_DIR) / "copywriter" / "held_out.csv")
    brands = {pair.facts.brand for pair in pairs}
    device = resolve_device(options.device)
    model, tokenizer = load_smollm2(settings.MODEL_DIR, device=device)

    def examples(chosen: Iterable[CatalogPair], limit: int) -> list[dict[str, torch.Tensor]]:
        made = []
        for pair in chosen:
            target = training_target(pair, brands)
            if target is not None:
                example = chat_example(training_messages(pair.facts, target), tokenizer.encode, options.max_len)
                if example is not None:
                    made.append(example)
                    if len(made) == limit:
                        break
        return made

    # Only as many pairs as the steps can use are tokenised: choosing targets runs the grounding check.
    order = torch.randperm(len(train_pairs), generator=torch.Generator().manual_seed(options.seed)).tolist()
    train_examples = examples((train_pairs[i] for i in order), options.max_steps * options.batch_size)
    eval_examples = examples(held_out, options.eval_examples)
    if len(train_examples) < options.batch_size:
        raise ValueError("too few faithful training pairs for one batch")

    if options.init_from:
        adapters.load(model, Registry(settings.MODEL_DIR).load_artifact(TASK, options.init_from).weights_file)
        frozen = min(model.lora_layers)
    else:
        config = LoRAConfig(rank=options.rank, alpha=2.0 * options.rank, dropout=0.05)
        frozen = model.config.n_layer - options.adapted_layers
        adapters.attach(model, config, range(frozen, model.config.n_layer))
    pad = tokenizer.pad_id
    trainer = _BudgetedTrainer(
        model,
        TrainConfig(
            out_dir=str(options.out_dir), max_steps=options.max_steps, lr=options.lr,
            warmup_steps=options.warmup_steps, weight_decay=0.0, log_every=5, seed=options.seed,
            device=str(device), bf16=True if device.type == "cuda" else options.bf16, progress=options.progress,
            resume=False,
        ),
        BatchLoader(train_examples, options.batch_size, lambda batch: collate(batch, pad), seed=options.seed),
        eval_data=eval_batches(eval_examples, options.batch_size, lambda batch: collate(batch, pad)),
        loss_fn=top_layers_loss(frozen),
        time_budget_s=options.time_budget_s,
    )
    result = trainer.fit()
    metrics = {
        **result.metrics(), "minutes": round(result.seconds / 60, 1), "train_examples_seen":
        result.steps * options.batch_size, "train_examples_prepared": len(train_examples),
        "held_out_products": len(held_out), "device": device.type, "options": _jsonable(asdict(options)),
    }
    if options.init_from:  # the steps and minutes of the version this run continued count too
        earlier = Registry(settings.MODEL_DIR).load_artifact(TASK, options.init_from).metrics
        metrics["total_steps"] = result.steps + int(earlier.get("total_steps", earlier.get("steps", 0)))
        metrics["total_minutes"] = round(metrics["minutes"] + float(earlier.get("total_minutes", earlier.get("minutes", 0))), 1)
    version = _register(model, options, metrics, frozen)
    return TrainReport(version, metrics, held_out_csv, len(train_pairs))


def _jsonable(values: dict[str, object]) -> dict[str, object]:
    return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}


def _register(model: Transformer, options: TrainOptions, metrics: dict[str, object], frozen: int) -> str:
    """Adapters + config + the run's metrics log and loss curve as a registry version."""
    staging = Path(tempfile.mkdtemp(prefix="copywriter-", dir=options.out_dir))
    try:
        adapters.save(model, staging / "model.safetensors")
        config = {
            "base": BASE_MODEL, "kinds": TRAINED_KINDS, "adapted_layers": list(range(frozen, model.config.n_layer)),
            "rank": model.lora_config.rank, "max_len": options.max_len, "init_from": options.init_from,
        }
        (staging / "config.json").write_text(json.dumps(config, indent=2))
        for name in ("metrics.jsonl", "loss.png"):
            if (options.out_dir / name).exists():
                shutil.copy(options.out_dir / name, staging / name)
        card = (
            f"# copywriter\n\nLoRA (rank {model.lora_config.rank}) on the top {model.config.n_layer - frozen} blocks of "
            f"SmolLM2-135M-Instruct, trained on faithful (facts -> description) pairs; {options.held_out} "
            f"products held out by hash.\n\n```json\n{json.dumps(metrics, indent=2)}\n```\n"
        )
        return Registry(settings.MODEL_DIR).register(
            TASK, staging, metrics=metrics, card=card, activate=options.activate, move=True
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
