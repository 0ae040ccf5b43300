"""The model scorer's length groups and the cached blend fit give what the plain computations give."""
import numpy as np
import pytest
import torch

from recommender.cooccurrence import CooccurrenceIndex
from recommender.data import Interactions, LeaveOneOut
from recommender.evaluation import BLEND_WEIGHTS, BlendedScorer, ModelScorer, build_evaluation_set, evaluate, fit_blend_weight
from recommender.model import RecommenderConfig, SequenceRecommender


def _histories(rows: int, width: int, n_items: int, seed: int = 0) -> np.ndarray:
    """Right-aligned histories of every length from 1 to width, in shuffled order."""
    rng = np.random.default_rng(seed)
    lengths = rng.permutation(np.arange(rows) % width + 1)
    items = rng.integers(1, n_items + 1, size=(rows, width))
    return np.where(np.arange(width)[None, :] >= width - lengths[:, None], items, 0)


@pytest.mark.parametrize("positions", ["rope", "learned"])
def test_scoring_in_length_groups_matches_one_full_width_pass(monkeypatch, positions):
    torch.manual_seed(0)
    model = SequenceRecommender(RecommenderConfig(n_items=30, max_len=12, dim=16, positions=positions)).eval()
    histories = _histories(rows=23, width=12, n_items=30)
    candidates = np.random.default_rng(1).integers(1, 31, size=(23, 7))
    monkeypatch.setattr(ModelScorer, "GROUP", 4)  # several groups of different widths
    with torch.inference_mode():
        expected_all = model.score_all(torch.from_numpy(histories))
        expected_candidates = model.score_candidates(torch.from_numpy(histories), torch.from_numpy(candidates))

    scorer = ModelScorer(model)

    torch.testing.assert_close(scorer(histories), expected_all, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scorer.score_candidates(histories, candidates), expected_candidates, atol=1e-5, rtol=1e-5)


def test_the_cached_sampled_blend_fit_matches_scoring_each_weight_in_full():
    rng = np.random.default_rng(0)
    sequences = [[str(item) for item in rng.integers(1, 400, size=int(rng.integers(3, 12)))] for _ in range(300)]
    split = LeaveOneOut.split(Interactions.from_sequences(sequences))
    items, offsets = split.train_sequences()
    index = CooccurrenceIndex.from_sequences(items, offsets, split.data.n_items)
    torch.manual_seed(0)
    scorer = ModelScorer(SequenceRecommender(RecommenderConfig(n_items=split.data.n_items, max_len=50, dim=16)))
    valid_set = build_evaluation_set(split, stage="valid", protocol="sampled", seed=7)

    weight, results = fit_blend_weight(scorer, index, valid_set)

    expected = {str(w): evaluate(BlendedScorer(scorer, index, w), valid_set) for w in BLEND_WEIGHTS}
    assert results == expected
    assert results[str(weight)]["ndcg@10"] == max(metrics["ndcg@10"] for metrics in expected.values())
