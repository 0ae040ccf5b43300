"""Ranking metrics against hand-computed cases, and the evaluation protocols on a hand-built split."""
import math

import numpy as np
import pytest
import torch

from recommender.data import Interactions, LeaveOneOut
from recommender.evaluation import (
    PopularityScorer,
    build_evaluation_set,
    evaluate,
    hit_rate_at_k,
    ndcg_at_k,
    popularity_counts,
    ranks_from_scores,
)


def test_hit_rate_counts_targets_ranked_inside_the_top_k():
    assert hit_rate_at_k(np.array([0, 9, 10, 50]), k=10) == 0.5


def test_ndcg_gives_one_over_log2_of_rank_plus_two_inside_the_top_k():
    ranks = np.array([0, 1, 3, 10])
    expected = (1.0 + 1 / math.log2(3) + 1 / math.log2(5) + 0.0) / 4
    assert ndcg_at_k(ranks, k=10) == pytest.approx(expected)


def test_metrics_of_no_users_are_zero():
    assert hit_rate_at_k(np.array([], dtype=np.int64)) == 0.0
    assert ndcg_at_k(np.array([], dtype=np.int64)) == 0.0


def test_rank_counts_higher_scores_and_ignores_excluded_candidates():
    target = torch.tensor([0.5, 0.9])
    others = torch.tensor([[0.7, 0.6, 0.1, -torch.inf], [0.1, 0.2, 0.3, 0.4]])
    assert ranks_from_scores(target, others, np.random.default_rng(0)).tolist() == [2, 0]


def test_ties_are_broken_at_random_so_a_constant_scorer_ranks_at_chance():
    target = torch.zeros(20_000)
    others = torch.zeros(20_000, 100)
    ranks = ranks_from_scores(target, others, np.random.default_rng(0))
    assert ranks.min() == 0 and ranks.max() == 100
    assert hit_rate_at_k(ranks, 10) == pytest.approx(10 / 101, abs=0.01)


def _split() -> LeaveOneOut:
    # user a: 1 2 3 4 (train 1 2, valid 3, test 4); user b: 5 6 7; user c: 8 9 (train only)
    return LeaveOneOut.split(Interactions.from_sequences([["1", "2", "3", "4"], ["5", "6", "7"], ["8", "9"]]))


def test_full_protocol_ranks_against_every_item_the_user_has_not_seen():
    split = _split()
    eval_set = build_evaluation_set(split, stage="test", protocol="full")
    # A scorer that prefers higher item indices: user a's target (index 4) is beaten by 5..9 only.
    scorer = lambda histories: torch.arange(split.data.n_items + 1, dtype=torch.float32).expand(len(histories), -1)
    metrics = evaluate(scorer, eval_set, k=1)
    # user a: items 5,6,7,8,9 are higher -> rank 5; user b: target 7 (index 7), higher unseen 8, 9 -> rank 2.
    assert metrics == {"hr@1": 0.0, "ndcg@1": 0.0}
    assert evaluate(scorer, eval_set, k=6)["hr@6"] == 1.0
    assert evaluate(scorer, eval_set, k=3)["hr@3"] == 0.5


def test_sampled_protocol_puts_the_target_first_among_101_candidates():
    split = LeaveOneOut.split(Interactions.from_sequences([[str(i) for i in range(1, 6)]] + [[str(i)] for i in range(6, 300)]))
    eval_set = build_evaluation_set(split, stage="test", protocol="sampled")
    assert eval_set.candidates.shape == (1, 101)
    assert eval_set.candidates[0, 0] == eval_set.targets[0] == 5
    assert not set(eval_set.candidates[0, 1:]) & {1, 2, 3, 4, 5}


def test_popularity_scorer_ranks_by_training_counts():
    counts = popularity_counts(np.array([1, 1, 2]), n_items=3)
    assert counts.tolist() == [0.0, 2.0, 1.0, 0.0]
    assert PopularityScorer(counts)(np.zeros((2, 5), dtype=np.int64)).shape == (2, 4)


def test_at_most_max_users_are_scored_and_the_choice_is_seeded():
    split = LeaveOneOut.split(Interactions.from_sequences([[f"{u}a", f"{u}b", f"{u}c"] for u in range(50)]))
    first = build_evaluation_set(split, stage="test", protocol="full", max_users=10, seed=3)
    again = build_evaluation_set(split, stage="test", protocol="full", max_users=10, seed=3)
    assert first.users == 10
    assert first.targets.tolist() == again.targets.tolist()
