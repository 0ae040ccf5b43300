"""Reading datasets, the leave-one-out split, padding, training pairs and negative sampling."""
import json
import zipfile

import numpy as np
import pytest

from recommender.data import Interactions, LeaveOneOut, TrainingPairs, history_matrix, left_pad, read_sequences, sample_negatives


def test_pairs_format_groups_lines_by_user_in_file_order(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("1 10\n2 30\n1 11\n\n1 12\n")
    assert read_sequences(path, "pairs") == [["10", "11", "12"], ["30"]]


def test_lines_format_reads_one_user_per_line(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("u1 a b c\nu2 d e\n")
    assert read_sequences(path, "lines") == [["a", "b", "c"], ["d", "e"]]


def test_recbole_format_takes_each_users_longest_row_as_history_plus_target(tmp_path):
    path = tmp_path / "Scientific.test.inter"
    path.write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n0\t5 6\t7\n1\t8\t9\n0\t5\t6\n")
    assert read_sequences(path, "recbole") == [["5", "6", "7"], ["8", "9"]]


def test_reviews_format_orders_each_reviewer_by_time_from_a_zip(tmp_path):
    reviews = [("A", "p2", 20), ("B", "p1", 5), ("A", "p1", 10), ("A", "p3", 20)]
    lines = "".join(json.dumps({"reviewerID": user, "asin": item, "unixReviewTime": time, "overall": 5.0}) + "\n"
                    for user, item, time in reviews)
    path = tmp_path / "reviews.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("reviews.json", lines)
    # Same-day reviews (p2, p3) keep their file order.
    assert read_sequences(path, "reviews") == [["p1", "p2", "p3"], ["p1"]]


def test_a_file_named_zip_that_is_not_one_is_a_clear_error(tmp_path):
    path = tmp_path / "reviews.zip"
    path.write_text('{"reviewerID": "A", "asin": "p1", "unixReviewTime": 1}\n')
    with pytest.raises(ValueError, match="not a readable zip archive"):
        read_sequences(path, "reviews")


@pytest.mark.parametrize("fmt, content", [("pairs", "1 2 3\n"), ("lines", "lonely\n"), ("csv", "1 2\n"), ("recbole", "u\t1 2\n"), ("reviews", "{\"asin\": \"x\"}\n")])
def test_malformed_files_are_refused_with_the_line_number(tmp_path, fmt, content):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match="bad.txt:1|unknown format"):
        read_sequences(path, fmt)


def test_leave_one_out_holds_out_the_last_two_items_of_users_with_three_or_more():
    data = Interactions.from_sequences([["a", "b", "c", "d"], ["e", "f"], ["g", "h", "i"]])
    split = LeaveOneOut.split(data)
    assert split.train_lengths.tolist() == [2, 2, 1]
    assert split.eval_users.tolist() == [0, 2]
    assert [data.item_ids[i - 1] for i in split.valid_targets(split.eval_users)] == ["c", "h"]
    assert [data.item_ids[i - 1] for i in split.test_targets(split.eval_users)] == ["d", "i"]
    items, offsets = split.train_sequences()
    assert [data.item_ids[i - 1] for i in items] == ["a", "b", "e", "f", "g"]
    assert offsets.tolist() == [0, 2, 4, 5]


def test_test_input_includes_the_validation_item_and_validation_input_does_not():
    split = LeaveOneOut.split(Interactions.from_sequences([["a", "b", "c", "d"]]))
    assert history_matrix(split, np.array([0]), "valid", 3).tolist() == [[0, 1, 2]]
    assert history_matrix(split, np.array([0]), "test", 3).tolist() == [[1, 2, 3]]


def test_left_pad_keeps_the_most_recent_items_right_aligned():
    items = np.array([1, 2, 3, 4, 5])
    assert left_pad(items, np.array([0, 3]), np.array([3, 5]), 2).tolist() == [[2, 3], [4, 5]]
    assert left_pad(items, np.array([3]), np.array([5]), 4).tolist() == [[0, 0, 4, 5]]


def test_training_pairs_predict_each_next_item_of_the_training_part():
    split = LeaveOneOut.split(Interactions.from_sequences([["a", "b", "c", "d", "e"], ["x"]]))
    pairs = TrainingPairs.from_split(split, max_len=4)
    assert pairs.inputs.tolist() == [[0, 0, 1, 2]]
    assert pairs.targets.tolist() == [[0, 0, 2, 3]]
    inputs, targets = next(pairs.batches(8, np.random.default_rng(0)))
    assert inputs.tolist() == [[1, 2]] and targets.tolist() == [[2, 3]]


def test_validation_items_train_except_those_of_the_validated_users_and_test_items_never_do():
    split = LeaveOneOut.split(Interactions.from_sequences([["a", "b", "c", "d"], ["e", "f", "g", "h"]]))
    pairs = TrainingPairs.from_split(split, max_len=4, validated_users=np.array([0]))
    # User 0 is validated: its training part (a, b) only; user 1 also learns its validation item g, never h.
    assert pairs.inputs.tolist() == [[0, 0, 0, 1], [0, 0, 5, 6]]
    assert pairs.targets.tolist() == [[0, 0, 0, 2], [0, 0, 6, 7]]


def test_negatives_never_include_any_of_the_users_items():
    # User 0 owns items 1..45 of 50, so most uniform draws collide and must be redrawn.
    sequences = [[str(i) for i in range(1, 46)]] + [[str(i)] for i in range(46, 51)]
    split = LeaveOneOut.split(Interactions.from_sequences(sequences))
    negatives = sample_negatives(split, np.array([0, 1]), 100, np.random.default_rng(0))
    assert negatives.shape == (2, 100)
    assert set(negatives[0].tolist()) <= {46, 47, 48, 49, 50}
    assert 46 not in set(negatives[1].tolist())
    assert negatives.min() >= 1 and negatives.max() <= 50
