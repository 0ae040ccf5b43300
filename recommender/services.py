"""Recommendation writes: training a version from the shop's events, refreshing every active shopper's stored
top 50, and refreshing the text-embedding neighbours behind "Similar items".

Each function owns its transactions; every refresh is an upsert of whole rows, so running one twice leaves the
same rows (idempotent, safe for Celery's redelivery)."""
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from safetensors.torch import save_file

from recommender import selectors
from recommender.artifacts import save_model
from recommender.data import Interactions, LeaveOneOut
from recommender.models import ShopperRecommendations, SimilarProducts
from recommender.offline import default_model_config, fit, score_report
from recommender.serving import COOCCURRENCE_FILE, TASK, ServingModel, active_model, registry, reset_active_model
from recommender.strategies import event_cooccurrence, reset_event_cooccurrence, stored_cache_key
from recommender.training import TrainingConfig, save_training_curve
from shop.errors import ApplicationError

logger = logging.getLogger(__name__)

TOP_N = 50
SIMILAR_N = 20


def active_days() -> int:
    return getattr(settings, "RECOMMENDER_ACTIVE_DAYS", 90)


# ------------------------------------------------------------------------------------------ training


def product_text(product) -> str:
    """What the text embedding of a product reads: title, brand, category and its structured attributes."""
    attributes = product.attributes if isinstance(product.attributes, dict) else {}
    facts = ", ".join(f"{k}: {v}" for k, v in attributes.items() if isinstance(v, (str, int, float)))
    return ". ".join(part for part in (product.title, product.brand, product.category.name, facts) if part)


def _embed(texts: list[str]) -> np.ndarray:
    from llm_core.embeddings import embed  # imported late: loading MiniLM is only for the jobs that need it

    return embed(texts)


@dataclass
class TrainingReport:
    version: str
    metrics: dict
    activated: bool
    path: Path


def recommender_train(
    *,
    training: TrainingConfig | None = None,
    use_text: bool = False,
    activate: bool = True,
    progress: bool = False,
    log: Callable[[dict], None] | None = None,
) -> TrainingReport:
    """Train a model on the shop's events (every shopper's and guest session's journey), evaluate it
    leave-one-out (full ranking and sampled, with popularity and co-occurrence baselines), and register it in
    the model registry with metrics.json and a loss/NDCG curve; activate it unless told not to.

    The vocabulary is every active product, not only the clicked ones: with use_text, a product nobody has
    clicked yet still gets a meaningful vector from its MiniLM text embedding."""
    training = training or TrainingConfig()
    sequences = [items for _, items in selectors.event_sequences()]
    catalog = {p.pk: p for p in selectors.active_products()}
    vocabulary = [str(pk) for pk in sorted(catalog.keys() | {pk for items in sequences for pk in items})]
    split = LeaveOneOut.split(Interactions.from_sequences([[str(pk) for pk in items] for items in sequences], vocabulary))
    if len(split.eval_users) < 10:
        raise ApplicationError(
            "not_enough_data", f"{len(split.eval_users)} shoppers have 3 or more product events; at least 10 are needed"
        )
    text_vectors = None
    if use_text:
        texts = [product_text(catalog[int(pk)]) if int(pk) in catalog else "" for pk in vocabulary]
        text_vectors = torch.zeros(len(vocabulary) + 1, 384)
        text_vectors[1:] = torch.from_numpy(_embed(texts))
    config = default_model_config(split, text_dim=384 if use_text else 0)
    fitted = fit(split, model_config=config, training=training, protocol="full", text_vectors=text_vectors,
                 progress=progress, log=log)
    metrics = {
        "full": score_report(split, fitted, protocol="full", seed=training.seed),
        "sampled": score_report(split, fitted, protocol="sampled", seed=training.seed),
        "validation": fitted.result.best_metrics,
        "best_epoch": fitted.result.best_epoch,
        "epochs": len(fitted.result.history),
        "train_seconds": fitted.train_seconds,
        "shoppers": split.data.n_users,
        "items": split.data.n_items,
        "interactions": int(len(split.data.items)),
        "text": use_text,
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "version"
        save_model(fitted.model, directory, vocabulary, extra={"blend_weight": fitted.blend_weight, "training": training.to_dict()})
        save_file(fitted.cooccurrence.tensors(), str(directory / COOCCURRENCE_FILE))
        (directory / "history.jsonl").write_text("".join(json.dumps(row) + "\n" for row in fitted.result.history))
        save_training_curve(fitted.result.history, directory / "curve.png")
        version = registry().register(TASK, directory, metrics=metrics, activate=activate, card=_model_card(metrics, config))
    reset_active_model()
    return TrainingReport(version, metrics, activate, registry().task_dir(TASK) / version)


def _model_card(metrics: dict, config) -> str:
    full, sampled = metrics["full"], metrics["sampled"]
    return (
        "# recommender\n\nA SASRec-style next-item model over the shop's product events, built from llm_core "
        f"blocks ({config.n_layers} blocks, width {config.dim}, length {config.max_len}"
        f"{', MiniLM text vectors joined' if config.text_dim else ''}), blended with item co-occurrence "
        f"(weight {full['blend_weight']}).\n\n"
        f"Leave-one-out, {full['users']} shoppers. Full ranking: HR@10 {full['model']['hr@10']}, "
        f"NDCG@10 {full['model']['ndcg@10']} (popularity {full['popularity']['ndcg@10']}, co-occurrence "
        f"{full['cooccurrence']['ndcg@10']}). Sampled (100 negatives): HR@10 {sampled['model']['hr@10']}, "
        f"NDCG@10 {sampled['model']['ndcg@10']}.\n\nTraining curve: curve.png; per-epoch rows: history.jsonl.\n"
    )


# ------------------------------------------------------------------------------------------- refresh


@dataclass
class RefreshResult:
    shoppers: int = 0
    written: int = 0
    strategy: str = ""
    model_version: str = ""
    seconds: float = 0.0
    failed_chunks: list[int] = field(default_factory=list)


def _available_products() -> set[int]:
    """Ids of the active, in-stock products."""
    return {p.pk for p in selectors.active_products() if p.stock_total > 0}


def _model_rows(serving: ServingModel, histories: dict[int, selectors.ShopperHistory], available: set[int]) -> dict[int, list[dict]]:
    """Batch inference for a chunk of shoppers: one forward pass, purchases and unavailable products masked."""
    users = [pk for pk, h in histories.items() if h.history]
    if not users:
        return {}
    matrix = serving.histories_matrix([histories[pk].history for pk in users])
    scores = serving.scores(matrix)  # (B, n_items + 1)
    unavailable = ~np.isin(serving.product_ids, list(available))
    scores[:, unavailable] = -np.inf
    for row, pk in enumerate(users):
        bought = [serving.index_of[p] for p in histories[pk].purchased if p in serving.index_of]
        scores[row, bought] = -np.inf
    top = min(TOP_N, scores.shape[1] - 1)
    picks = np.argpartition(-scores, top - 1, axis=1)[:, :top] if top > 0 else np.zeros((len(users), 0), dtype=np.int64)
    order = np.take_along_axis(scores, picks, axis=1).argsort(axis=1)[:, ::-1]
    picks = np.take_along_axis(picks, order, axis=1)  # (B, top) best first
    because = serving.explain(matrix, picks)
    rows = {}
    for row, pk in enumerate(users):
        finite = np.isfinite(scores[row, picks[row]])
        rows[pk] = [
            {"product": int(serving.product_ids[i]), "score": round(float(scores[row, i]), 4),
             "because": int(b) if b > 0 else None}
            for i, b, ok in zip(picks[row], because[row], finite) if ok
        ]
    return rows


def _cooccurrence_rows(histories: dict[int, selectors.ShopperHistory], available: set[int]) -> dict[int, list[dict]]:
    """Without a model: each shopper's items ranked by co-occurrence with their recent ones."""
    index, product_ids = event_cooccurrence()
    index_of = {int(pk): i for i, pk in enumerate(product_ids) if i}
    users = [pk for pk, h in histories.items() if h.history]
    if not users:
        return {}
    width = selectors.HISTORY_LENGTH
    matrix = np.zeros((len(users), width), dtype=np.int64)
    for row, pk in enumerate(users):
        indices = [index_of[p] for p in histories[pk].history if p in index_of][-width:]
        if indices:
            matrix[row, width - len(indices):] = indices
    scores = index.all_scores(matrix).numpy()
    rows = {}
    for row, pk in enumerate(users):
        excluded = histories[pk].purchased
        order = np.argsort(-scores[row], kind="stable")
        items = []
        for i in order:
            if scores[row, i] <= 0 or len(items) >= TOP_N:
                break
            product = int(product_ids[i])
            if product in available and product not in excluded:
                items.append({"product": product, "score": round(float(scores[row, i]), 4), "because": None})
        rows[pk] = items
    return rows


def recommendations_refresh(
    *, user_ids: Iterable[int] | None = None, chunk_size: int = 256, progress: Callable[[int], None] | None = None
) -> RefreshResult:
    """Recompute and store the top 50 of every active shopper (a product event within RECOMMENDER_ACTIVE_DAYS),
    or of `user_ids`, in chunks: one event query, one batched forward pass and one upsert per chunk.

    Uses the active model; without one, co-occurrence. Excludes purchased, inactive and out-of-stock products.
    A chunk that fails is logged and skipped, so one bad row cannot stop the rest."""
    started = time.perf_counter()
    serving = active_model()
    reset_event_cooccurrence()
    users = list(user_ids) if user_ids is not None else selectors.active_shopper_ids(
        since=timezone.now() - timedelta(days=active_days())
    )
    available = _available_products()
    result = RefreshResult(strategy="model" if serving else "cooccurrence", model_version=serving.version if serving else "")
    for start in range(0, len(users), chunk_size):
        chunk = users[start : start + chunk_size]
        try:
            histories = selectors.user_histories(user_ids=chunk)
            rows = _model_rows(serving, histories, available) if serving else _cooccurrence_rows(histories, available)
            result.written += _store(rows, strategy=result.strategy, model_version=result.model_version)
        except Exception:
            logger.exception("recommendation refresh failed for users %s..%s", chunk[0], chunk[-1])
            result.failed_chunks.append(start)
        result.shoppers += len(chunk)
        if progress:
            progress(len(chunk))
    result.seconds = round(time.perf_counter() - started, 2)
    return result


def _store(rows: dict[int, list[dict]], *, strategy: str, model_version: str) -> int:
    now = timezone.now()
    objects = [
        ShopperRecommendations(user_id=pk, items=items, strategy=strategy, model_version=model_version, computed_at=now)
        for pk, items in rows.items()
    ]
    with transaction.atomic():
        ShopperRecommendations.objects.bulk_create(
            objects, update_conflicts=True, unique_fields=["user"],
            update_fields=["items", "strategy", "model_version", "computed_at"],
        )
    # Pages read the rows through the cache: drop the stale copies now the new rows are committed.
    transaction.on_commit(lambda: cache.delete_many([stored_cache_key(pk) for pk in rows]))
    return len(objects)


# ------------------------------------------------------------------------------------- similar items


def similar_products_refresh(*, batch_size: int = 512, embed: Callable[[list[str]], np.ndarray] | None = None) -> int:
    """Embed every active product's text (MiniLM, cached on disk by text) and store each one's 20 nearest
    neighbours by cosine similarity; returns the number of products written. Batch work, never on a request."""
    products = selectors.active_products()
    if not products:
        return 0
    vectors = torch.from_numpy(np.asarray((embed or _embed)([product_text(p) for p in products]), dtype=np.float32))
    ids = np.array([p.pk for p in products])
    now = timezone.now()
    rows = []
    k = min(SIMILAR_N + 1, len(products))
    for start in range(0, len(products), batch_size):
        similarity = vectors[start : start + batch_size] @ vectors.T  # (b, n): unit vectors, so cosine
        rows_in_batch = torch.arange(similarity.shape[0])
        similarity[rows_in_batch, rows_in_batch + start] = -torch.inf  # a product is not similar to itself
        values, indices = similarity.topk(k, dim=1)
        for row in range(similarity.shape[0]):
            items = [
                {"product": int(ids[j]), "score": round(float(v), 4)}
                for v, j in zip(values[row].tolist(), indices[row].tolist()) if np.isfinite(v)
            ][:SIMILAR_N]
            rows.append(SimilarProducts(product_id=int(ids[start + row]), items=items, computed_at=now))
    with transaction.atomic():
        SimilarProducts.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["product"], update_fields=["items", "computed_at"], batch_size=500
        )
    return len(rows)
