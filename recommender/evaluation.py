"""Offline evaluation: ranking metrics, the sampled and full leave-one-out protocols, and two baselines.

Protocol (../shared/datasets/README.md, the SASRec paper's): each user with >= 3 actions is scored once; the
target is the last item (test; the validation item is then part of the input) or the second-to-last
(validation). "sampled" ranks the target against 100 items drawn uniformly from those the user never touched;
"full" ranks it against every item the user has not interacted with before (Krichene & Rendle 2020).
At most 10,000 users (a seeded random subset) are scored. Ties are broken at random, so a constant scorer gets
chance-level figures rather than perfect or zero ones. Everything is batched matrix work.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from recommender.cooccurrence import CooccurrenceIndex
from recommender.data import LeaveOneOut, history_matrix, sample_negatives

# A scorer maps (B, T) right-aligned histories to (B, n_items + 1) scores for the next item; one that also has
# score_candidates(histories, candidates) -> (B, C) is asked only about the sampled protocol's candidates.
Scorer = Callable[[np.ndarray], torch.Tensor]

SAMPLED_NEGATIVES = 100
MAX_EVAL_USERS = 10_000
HISTORY_WIDTH = 50


def hit_rate_at_k(ranks: np.ndarray, k: int = 10) -> float:
    """Share of targets ranked in the top k (rank 0 = first)."""
    return float((ranks < k).mean()) if len(ranks) else 0.0


def ndcg_at_k(ranks: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k with one relevant item: 1 / log2(rank + 2) inside the top k, else 0."""
    if not len(ranks):
        return 0.0
    gains = np.where(ranks < k, 1.0 / np.log2(ranks.astype(np.float64) + 2.0), 0.0)
    return float(gains.mean())


def ranks_from_scores(
    target_scores: torch.Tensor, other_scores: torch.Tensor, rng: np.random.Generator
) -> np.ndarray:
    """Rank of each target among its row's other candidates: how many score higher, plus a uniformly random
    share of those that tie (so equal scores neither flatter nor punish). -inf marks an excluded candidate."""
    higher = (other_scores > target_scores[:, None]).sum(dim=1).numpy()
    ties = (other_scores == target_scores[:, None]).sum(dim=1).numpy()
    return higher + np.floor(rng.random(len(higher)) * (ties + 1)).astype(np.int64)


def metrics_of_candidate_scores(scores: torch.Tensor, *, k: int = 10, seed: int = 0) -> dict:
    """HR@k and NDCG@k from (U, 1 + negatives) scores, target first; ties broken as evaluate() breaks them."""
    ranks = ranks_from_scores(scores[:, 0], scores[:, 1:], np.random.default_rng(seed + 1))
    return {f"hr@{k}": round(hit_rate_at_k(ranks, k), 4), f"ndcg@{k}": round(ndcg_at_k(ranks, k), 4)}


@dataclass
class EvaluationSet:
    """Everything one protocol run needs, fixed up front so every scorer sees the same users and negatives."""

    protocol: str
    user_indices: np.ndarray  # (U,) the scored users, indices into the split's data
    histories: np.ndarray  # (U, HISTORY_WIDTH) model inputs
    targets: np.ndarray  # (U,)
    candidates: np.ndarray | None  # (U, 1 + 100), target first: the sampled protocol only
    seen_rows: np.ndarray  # full protocol: (row, item) pairs the user has already interacted with
    seen_items: np.ndarray

    @property
    def users(self) -> int:
        return len(self.targets)


def build_evaluation_set(
    split: LeaveOneOut,
    *,
    stage: str,
    protocol: str,
    seed: int = 0,
    max_users: int = MAX_EVAL_USERS,
) -> EvaluationSet:
    """Pick the users (a seeded random subset above max_users), their inputs, targets and negatives."""
    if stage not in {"valid", "test"} or protocol not in {"sampled", "full"}:
        raise ValueError(f"stage must be valid|test and protocol sampled|full, got {stage!r}, {protocol!r}")
    rng = np.random.default_rng(seed)
    users = split.eval_users
    if len(users) > max_users:
        users = np.sort(rng.choice(users, size=max_users, replace=False))
    targets = split.test_targets(users) if stage == "test" else split.valid_targets(users)
    histories = history_matrix(split, users, stage, HISTORY_WIDTH)
    candidates = None
    seen_rows = seen_items = np.zeros(0, dtype=np.int64)
    if protocol == "sampled":
        negatives = sample_negatives(split, users, SAMPLED_NEGATIVES, rng)
        candidates = np.concatenate([targets[:, None], negatives], axis=1)
    else:
        input_lengths = split.train_lengths[users] + (1 if stage == "test" else 0)
        seen_rows = np.repeat(np.arange(len(users)), input_lengths)
        within = np.arange(input_lengths.sum()) - np.repeat(np.cumsum(input_lengths) - input_lengths, input_lengths)
        seen_items = split.data.items[np.repeat(split.data.offsets[users], input_lengths) + within]
    return EvaluationSet(protocol, users, histories, targets, candidates, seen_rows, seen_items)


def evaluate(scorer: Scorer, eval_set: EvaluationSet, *, k: int = 10, batch_size: int = 1024, seed: int = 0) -> dict:
    """HR@k and NDCG@k of a scorer on a prepared evaluation set."""
    rng = np.random.default_rng(seed + 1)
    ranks = []
    for begin in range(0, eval_set.users, batch_size):
        rows = slice(begin, begin + batch_size)
        histories = eval_set.histories[rows]
        batch = len(histories)
        targets = torch.from_numpy(eval_set.targets[rows])
        score_candidates = getattr(scorer, "score_candidates", None)
        if eval_set.candidates is not None and score_candidates is not None:
            scores = score_candidates(histories, eval_set.candidates[rows]).float()  # (B, 101), target first
            target_scores, others = scores[:, 0], scores[:, 1:]
        elif eval_set.candidates is not None:
            scores = scorer(histories).float()  # (B, n_items + 1)
            target_scores = scores[torch.arange(batch), targets]
            others = scores.gather(1, torch.from_numpy(eval_set.candidates[rows, 1:]))  # (B, 100)
        else:
            scores = scorer(histories).float()
            target_scores = scores[torch.arange(batch), targets]
            others = scores.clone()
            selected = (eval_set.seen_rows >= begin) & (eval_set.seen_rows < begin + batch)
            others[torch.from_numpy(eval_set.seen_rows[selected] - begin), torch.from_numpy(eval_set.seen_items[selected])] = -torch.inf
            others[:, 0] = -torch.inf  # padding is not an item
            others[torch.arange(batch), targets] = -torch.inf  # the target does not compete with itself
        ranks.append(ranks_from_scores(target_scores, others, rng))
    all_ranks = np.concatenate(ranks) if ranks else np.zeros(0, dtype=np.int64)
    return {f"hr@{k}": round(hit_rate_at_k(all_ranks, k), 4), f"ndcg@{k}": round(ndcg_at_k(all_ranks, k), 4)}


def popularity_counts(items: np.ndarray, n_items: int) -> np.ndarray:
    """(n_items + 1,) interaction counts per item index."""
    return np.bincount(items, minlength=n_items + 1).astype(np.float32)


class PopularityScorer:
    """Everyone gets the most interacted-with items: the floor any personal model must clear."""

    def __init__(self, counts: np.ndarray):
        self.scores = torch.from_numpy(counts.astype(np.float32))

    def __call__(self, histories: np.ndarray) -> torch.Tensor:
        return self.scores.expand(len(histories), -1)


class CooccurrenceScorer:
    """Item-to-item: the co-occurrence of each item with the shopper's recent items (the latest counting
    most), popularity breaking ties so items nobody saw together still come in a sensible order."""

    def __init__(self, index: CooccurrenceIndex, counts: np.ndarray):
        self.index = index
        popularity = torch.from_numpy(counts.astype(np.float32))
        self.tie_breaker = 1e-3 * popularity / popularity.max().clamp(min=1.0)

    def __call__(self, histories: np.ndarray) -> torch.Tensor:
        return self.index.all_scores(histories) + self.tie_breaker

    def score_candidates(self, histories: np.ndarray, candidates: np.ndarray) -> torch.Tensor:
        scores = torch.from_numpy(self.index.pair_scores(histories, candidates))
        return scores + self.tie_breaker[torch.from_numpy(candidates)]


class ModelScorer:
    """A SequenceRecommender as a scorer: eval mode, no gradients, on the model's device, its own max length.

    Rows are scored in groups of similar history length, each group cut to its longest history: most
    shoppers' histories are far shorter than the 50 columns, and left padding changes nothing (relative
    positions, padded keys masked), so this gives the same scores at a fraction of the cost (validation on
    Video.txt every epoch: 8.9 s -> about 2 s).

    n_items may exceed the model's own when a dataset holds items the model never saw (evaluating a trained
    model on newer data): those are dropped from histories and always rank last."""

    UNSEEN_SCORE = -1e9
    GROUP = 256  # rows per length group

    def __init__(self, model: torch.nn.Module, n_items: int | None = None):
        self.model = model
        self.known = model.config.n_items
        self.n_items = max(n_items or self.known, self.known)

    def _inputs(self, histories: np.ndarray) -> torch.Tensor:
        self.model.eval()
        histories = np.where(histories > self.known, 0, histories)[:, -self.model.config.max_len :]
        return torch.from_numpy(histories).to(next(self.model.parameters()).device)

    def _by_length(self, histories: np.ndarray, score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """score(inputs (G, width), rows (G,)) over groups of rows of similar length, reassembled in row order."""
        inputs = self._inputs(histories)
        lengths = (inputs > 0).sum(1).cpu()
        order = torch.argsort(lengths, stable=True)
        parts = []
        with torch.inference_mode():
            for rows in order.split(self.GROUP):
                width = max(int(lengths[rows].max()), 1)
                parts.append(score(inputs[rows.to(inputs.device), -width:], rows).cpu())
        scores = torch.cat(parts)
        return scores[torch.argsort(order)]  # back to the callers' row order

    def __call__(self, histories: np.ndarray) -> torch.Tensor:
        scores = self._by_length(histories, lambda inputs, rows: self.model.score_all(inputs))
        if self.n_items > self.known:
            scores = torch.cat([scores, scores.new_full((len(histories), self.n_items - self.known), self.UNSEEN_SCORE)], 1)
        return scores

    def score_candidates(self, histories: np.ndarray, candidates: np.ndarray) -> torch.Tensor:
        unseen = torch.from_numpy(candidates > self.known)
        items = torch.from_numpy(np.where(candidates > self.known, 0, candidates)).to(next(self.model.parameters()).device)
        scores = self._by_length(histories, lambda inputs, rows: self.model.score_candidates(inputs, items[rows.to(items.device)]))
        return scores.masked_fill(unseen, self.UNSEEN_SCORE)


class BlendedScorer:
    """The model's scores plus `weight` x log(1 + co-occurrence with the shopper's recent items).

    The transformer generalises across items; exact "seen together" counts remember the long tail of item
    pairs that 64-dimensional vectors blur. The weight is chosen on validation (see fit_blend_weight)."""

    def __init__(self, model: ModelScorer, index: CooccurrenceIndex, weight: float):
        self.model, self.index, self.weight = model, index, weight

    def __call__(self, histories: np.ndarray) -> torch.Tensor:
        scores = self.model(histories)
        return scores + self.weight * torch.log1p(self.index.all_scores(histories)) if self.weight else scores

    def score_candidates(self, histories: np.ndarray, candidates: np.ndarray) -> torch.Tensor:
        scores = self.model.score_candidates(histories, candidates)
        if not self.weight:
            return scores
        return scores + self.weight * torch.log1p(torch.from_numpy(self.index.pair_scores(histories, candidates)))


BLEND_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def fit_blend_weight(model: ModelScorer, index: CooccurrenceIndex, valid_set: EvaluationSet) -> tuple[float, dict]:
    """The co-occurrence weight with the best validation NDCG@10 (0 when the prior does not help).

    Under the sampled protocol the model's and the prior's candidate scores are computed once and only their
    sum changes per weight (on Video.txt this took the blend fit from about two minutes to seconds)."""
    if valid_set.candidates is not None:
        model_scores = model.score_candidates(valid_set.histories, valid_set.candidates).float()
        prior = torch.log1p(torch.from_numpy(index.pair_scores(valid_set.histories, valid_set.candidates)))
        results = {weight: metrics_of_candidate_scores(model_scores + weight * prior if weight else model_scores)
                   for weight in BLEND_WEIGHTS}
    else:
        results = {weight: evaluate(BlendedScorer(model, index, weight), valid_set) for weight in BLEND_WEIGHTS}
    best = max(BLEND_WEIGHTS, key=lambda weight: (results[weight]["ndcg@10"], -weight))
    return best, {str(weight): metrics for weight, metrics in results.items()}
