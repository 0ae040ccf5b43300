"""train_chatbot and evaluate_chatbot: the fresh-machine path (shipped examples), registry registration,
and the evaluation's JSON summary line."""
import csv
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from chatbot.intents import TASK, get_intent_model
from llm_core.registry import Registry


@pytest.fixture
def own_model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    settings.VAR_DIR = tmp_path
    return settings.MODEL_DIR


def test_train_on_shipped_examples_registers_an_active_version(own_model_dir, db):
    out = StringIO()

    call_command("train_chatbot", "--hidden", "0", "--epochs", "60", "--quiet", stdout=out)

    registry = Registry(own_model_dir)
    version = registry.active_version(TASK)
    metrics = json.loads((own_model_dir / TASK / version / "metrics.json").read_text())
    assert metrics["kind"] == "embedding" and metrics["data"] == "shipped" and metrics["train_examples"] > 250
    assert get_intent_model().kind == "embedding" and get_intent_model().config["hidden"] == 0


def test_train_with_a_csv_holds_out_a_split_under_var(own_model_dir, tmp_path, db):
    data = tmp_path / "extra.csv"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["utterance", "intent"])
        for i in range(40):
            writer.writerow([f"where has parcel number {i} got to", "track_order"])
            writer.writerow([f"I want money back for item {i}", "get_refund"])

    call_command("train_chatbot", "--data", str(data), "--hidden", "0", "--epochs", "40", "--holdout", "0.25", "--quiet", stdout=StringIO())

    held = list(csv.DictReader(open(tmp_path / "chatbot" / "heldout-seed0.csv")))
    metrics = json.loads((own_model_dir / TASK / Registry(own_model_dir).active_version(TASK) / "metrics.json").read_text())
    assert len(held) == 20 and metrics["held_out"]["utterances"] == 20


def test_train_rejects_unknown_intents(own_model_dir, tmp_path, db):
    data = tmp_path / "bad.csv"
    data.write_text("utterance,intent\nhello,teleport_me\n")

    with pytest.raises(CommandError, match="teleport_me"):
        call_command("train_chatbot", "--data", str(data), "--quiet", stdout=StringIO())


def test_evaluate_prints_the_summary_as_the_last_json_line(tmp_path, db):
    data = tmp_path / "eval.csv"
    data.write_text("utterance,intent\nwhere's my parcel,track_order\nplease cancel my order,cancel_order\n"
                    "tell me a joke about cats,out_of_scope\n")
    out = StringIO()

    call_command("evaluate_chatbot", "--intents", str(data), "--json", stdout=out)

    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert set(summary) == {"utterances", "accuracy", "macro_f1", "out_of_scope"}
    assert summary["utterances"] == 3 and summary["out_of_scope"]["oos_utterances"] == 1


def test_evaluate_rejects_a_csv_without_the_columns(tmp_path, db):
    data = tmp_path / "eval.csv"
    data.write_text("text,label\nhi,greeting\n")

    with pytest.raises(CommandError, match="missing column"):
        call_command("evaluate_chatbot", "--intents", str(data), stdout=StringIO())
