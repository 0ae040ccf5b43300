"""The item-to-item co-occurrence index against hand-counted pairs."""
import numpy as np
import pytest

from recommender.cooccurrence import CooccurrenceIndex


def _index() -> CooccurrenceIndex:
    # Sequences 1 2 3 and 2 3: pairs within 3 steps, weight 1/distance, both directions.
    return CooccurrenceIndex.from_sequences(np.array([1, 2, 3, 2, 3]), np.array([0, 3, 5]), n_items=4)


def test_pairs_are_counted_in_both_directions_nearer_ones_weighing_more():
    index = _index()
    assert index.pair_weights(np.array([2, 3, 1, 3, 1]), np.array([3, 2, 3, 1, 4])).tolist() == pytest.approx(
        [2.0, 2.0, 0.5, 0.5, 0.0]
    )


def test_neighbours_come_strongest_first():
    assert _index().neighbours(2, limit=5) == [(3, 2.0), (1, 1.0)]
    assert _index().neighbours(99, limit=5) == []


def test_scores_over_the_catalog_match_the_candidate_lookup():
    index = _index()
    histories = np.array([[0, 1, 2], [0, 0, 3]])
    full = index.all_scores(histories).numpy()
    candidates = np.array([[3, 4, 1], [2, 1, 4]])
    np.testing.assert_allclose(index.pair_scores(histories, candidates), np.take_along_axis(full, candidates, axis=1))
    # user 0: item 3 gets 2.0 from item 2 (newest, vote 1) and 0.5 from item 1 (vote 0.5).
    assert full[0, 3] == pytest.approx(2.25)


def test_the_index_survives_a_round_trip_through_tensors():
    index = _index()
    again = CooccurrenceIndex.from_tensors(index.tensors())
    assert again.neighbours(3, 5) == index.neighbours(3, 5)
