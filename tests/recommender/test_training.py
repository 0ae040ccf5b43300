"""Training: the objectives, early stopping and the time budget, on small synthetic data."""
import json

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command

from recommender.data import Interactions, LeaveOneOut, TrainingPairs
from recommender.evaluation import ModelScorer, build_evaluation_set, evaluate
from recommender.model import RecommenderConfig, SequenceRecommender
from recommender.offline import OfflineRun, run_offline_evaluation
from recommender.training import TrainingConfig, replace_inputs, sequence_loss, train_model


def synthetic_sequences(users: int = 300, items: int = 60, length: int = 8, seed: int = 0) -> list[list[str]]:
    """Each user walks a chain i -> i+1 -> i+2 ... (mod items) from a random start, with a little noise: an
    order a sequence model can learn and popularity cannot."""
    rng = np.random.default_rng(seed)
    sequences = []
    for _ in range(users):
        start = int(rng.integers(items))
        walk = [(start + step) % items for step in range(length)]
        if rng.random() < 0.2:
            walk[int(rng.integers(1, length - 2))] = int(rng.integers(items))
        sequences.append([f"i{item}" for item in walk])
    return sequences


def write_pairs(path, sequences) -> None:
    path.write_text("".join(f"u{u} {item}\n" for u, items in enumerate(sequences) for item in items))


@pytest.mark.parametrize("loss, negatives", [("softmax", 16), ("softmax", 0), ("bce", 1), ("gbce", 16)])
def test_every_objective_gives_a_finite_loss_and_gradients(loss, negatives):
    torch.manual_seed(0)
    model = SequenceRecommender(RecommenderConfig(n_items=40, max_len=6, dim=16, dropout=0.0))
    vectors = model.item_vectors()
    hidden = model.encode(torch.tensor([[0, 1, 2, 3]]), vectors)[0]
    positives = torch.tensor([2, 3, 4, 5])
    value = sequence_loss(model, hidden, positives, vectors, TrainingConfig(loss=loss, negatives=negatives))
    value.backward()
    assert torch.isfinite(value) and model.item_embedding.weight.grad.abs().sum() > 0


def test_unknown_objectives_and_schedules_are_refused():
    with pytest.raises(ValueError, match="loss"):
        TrainingConfig(loss="mse")
    with pytest.raises(ValueError, match="schedule"):
        TrainingConfig(schedule="linear")
    with pytest.raises(ValueError, match="input_replacement"):
        TrainingConfig(input_replacement=1.0)


def test_input_replacement_swaps_about_that_share_of_real_items_and_never_padding():
    inputs = np.zeros((400, 50), dtype=np.int64)
    inputs[:, 10:] = 7  # 40 real items per row after 10 columns of padding
    replaced = replace_inputs(inputs, 0.1, n_items=1000, rng=np.random.default_rng(0))
    assert (replaced[:, :10] == 0).all() and (inputs[:, 10:] == 7).all()  # padding kept; the input not modified
    real = replaced[:, 10:]
    assert ((real >= 1) & (real <= 1000)).all()
    assert 0.09 < (real != 7).mean() < 0.11  # 0.1 swapped, less the ~0.1% drawn as item 7 itself
    assert (replace_inputs(inputs, 0.0, 1000, np.random.default_rng(0)) == inputs).all()


def test_training_lowers_the_loss_and_keeps_the_best_validation_state():
    split = LeaveOneOut.split(Interactions.from_sequences(synthetic_sequences(users=120, items=30)))
    model = SequenceRecommender(RecommenderConfig(n_items=split.data.n_items, max_len=10, dim=16, dropout=0.1))
    valid = build_evaluation_set(split, stage="valid", protocol="full")
    result = train_model(model, TrainingPairs.from_split(split, 10), TrainingConfig(max_epochs=6, patience=6, batch_size=32, lr=5e-3),
                         lambda m: evaluate(ModelScorer(m), valid))
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.best_metrics["ndcg@10"] == max(row["val_ndcg@10"] for row in result.history)
    assert evaluate(ModelScorer(model), valid) == result.best_metrics  # the best state was restored


def test_a_time_budget_stops_training_early():
    split = LeaveOneOut.split(Interactions.from_sequences(synthetic_sequences(users=60, items=20)))
    model = SequenceRecommender(RecommenderConfig(n_items=split.data.n_items, max_len=10, dim=8))
    result = train_model(model, TrainingPairs.from_split(split, 10), TrainingConfig(max_epochs=500, time_budget=0.01, batch_size=8))
    assert len(result.history) == 1


def test_evaluate_recommender_prints_the_documented_json_last(tmp_path, capsys):
    dataset = tmp_path / "chains.txt"
    write_pairs(dataset, synthetic_sequences(users=80, items=20))
    call_command("evaluate_recommender", dataset=str(dataset), fmt="pairs", protocol="full", epochs=2, json=True,
                 threads=1, verbosity=0)
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(report)[:7] == ["dataset", "protocol", "users", "model", "popularity", "cooccurrence", "train_seconds"]
    assert report["users"] == 80 and report["protocol"] == "full"
    assert set(report["model"]) == {"hr@10", "ndcg@10"}


def test_evaluate_recommender_refuses_a_bad_training_setting_cleanly(tmp_path):
    dataset = tmp_path / "pairs.txt"
    write_pairs(dataset, synthetic_sequences(users=20, items=10))
    with pytest.raises(CommandError, match="input_replacement"):
        call_command("evaluate_recommender", "--dataset", str(dataset), "--format", "pairs", "--input-replacement", "1.5")


def test_a_saved_model_is_evaluated_without_training(tmp_path, capsys):
    from recommender.artifacts import save_model

    sequences = synthetic_sequences(users=50, items=20)
    dataset = tmp_path / "chains.lines"
    dataset.write_text("".join(f"u{u} {' '.join(items)}\n" for u, items in enumerate(sequences)))
    run = OfflineRun(dataset=str(dataset), fmt="lines", protocol="sampled", training=TrainingConfig(max_epochs=1))
    report, fitted, split = run_offline_evaluation(run)
    save_model(fitted.model, tmp_path / "saved", split.data.item_ids, extra={"blend_weight": fitted.blend_weight})
    call_command("evaluate_recommender", dataset=str(dataset), fmt="lines", model=str(tmp_path / "saved"), json=True,
                 threads=1, verbosity=0)
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["train_seconds"] == 0.0 and again["model_only"] == report["model_only"]


@pytest.mark.slow
def test_a_short_training_run_beats_popularity_on_sequential_data(tmp_path):
    dataset = tmp_path / "chains.txt"
    write_pairs(dataset, synthetic_sequences(users=600, items=80, length=10))
    run = OfflineRun(dataset=str(dataset), fmt="pairs", protocol="full",
                     model_config={"dim": 32}, training=TrainingConfig(max_epochs=25, patience=5, lr=3e-3))
    report, _, _ = run_offline_evaluation(run)
    assert report["model_only"]["ndcg@10"] > report["popularity"]["ndcg@10"] + 0.2
