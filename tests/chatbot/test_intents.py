"""The intent and slot model: rules for slots, the shipped-examples model a fresh machine serves, the
encoder built from llm_core blocks, and persistence through the registry."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from chatbot.intent_data import (
    BITEXT_INTENTS,
    LABELS,
    OUT_OF_SCOPE,
    Example,
    load_csv,
    shipped_examples,
    split_heldout,
)
from chatbot.intent_training import classification_metrics, save_model, train_encoder_model
from chatbot.intents import EncoderClassifier, extract_slots, get_intent_model, model_from_artifact, tags_to_spans

OOS_PROBES = Path(__file__).parent / "oos_probes.csv"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("where is AI-7KQ2M9XPLA", {"order_id": "AI-7KQ2M9XPLA"}),
        ("status of ai 7kq2m9xpla please", {"order_id": "AI-7KQ2M9XPLA"}),
        ("cancel purchase 00004587345", {"order_id": "00004587345"}),
        ("I need invoice #88213455 for my records", {"invoice_id": "88213455"}),
        ("my email is Asha.Rao+shop@Example.co.in", {"email": "asha.rao+shop@example.co.in"}),
        ("a kurta under 1500", {}),
    ],
)
def test_rules_extract_order_numbers_invoice_ids_and_emails(text, expected):
    assert extract_slots(text) == expected


def test_shipped_examples_cover_every_label_with_at_least_nine_each():
    examples = shipped_examples()
    counts = {label: sum(e.intent == label for e in examples) for label in LABELS}

    assert set(BITEXT_INTENTS) <= set(counts) and len(BITEXT_INTENTS) == 27
    assert min(counts.values()) >= 9


def test_heldout_split_keeps_duplicates_out_and_shipped_examples_in():
    examples = [Example(f"text {i % 50}", "track_order", source="x") for i in range(100)]
    examples += [Example("Text 3?", "track_order", source="y")] + shipped_examples()[:5]

    train, held = split_heldout(examples, fraction=0.2, seed=1)

    assert {e.text.lower().rstrip("?") for e in train}.isdisjoint({e.text.lower() for e in held})
    assert len(held) == 10 and all(e.source != "shipped" for e in held)


def test_fresh_machine_model_understands_new_wordings(db):
    model = get_intent_model()  # no registered version: trained on the shipped examples
    probes = {
        "where's my parcel?": "track_order",
        "please cancel my order": "cancel_order",
        "I'd like my money back": "get_refund",
        "which payment methods can I use": "check_payment_methods",
        "let me talk to a human": "contact_human_agent",
        "hello!": "greeting",
    }
    predicted = {text: model.predict(text).intent for text in probes}

    assert sum(predicted[t] == i for t, i in probes.items()) >= 5, predicted


def test_fresh_machine_model_rejects_most_out_of_scope_requests(db):
    model = get_intent_model()
    probes = load_csv(OOS_PROBES)

    rejected = sum(u.out_of_scope for u in model.predict_batch([e.text for e in probes]))

    assert rejected / len(probes) >= 0.6


def test_classification_metrics_count_rejections_and_macro_f1():
    gold = ["a", "a", "b", "b", OUT_OF_SCOPE]
    predicted = ["a", OUT_OF_SCOPE, "b", "a", OUT_OF_SCOPE]

    metrics = classification_metrics(gold, predicted)

    assert metrics["accuracy"] == 0.6
    assert metrics["macro_f1"] == round((1 / 2 + 2 / 3 + 2 / 3) / 3, 4)
    assert metrics["out_of_scope"]["in_scope_rejected"] == 1 and metrics["out_of_scope"]["oos_recall"] == 1.0


def test_encoder_is_bidirectional_and_ignores_padding():
    torch.manual_seed(0)
    from llm_core.model import ModelConfig

    encoder = EncoderClassifier(ModelConfig(vocab_size=50, n_layer=2, n_embd=32, n_head=2, n_kv_head=2,
                                            intermediate_size=64, max_seq_len=16), n_labels=3, n_tags=5).eval()
    ids = torch.tensor([[5, 6, 7, 0, 0]])
    padded = encoder(ids, torch.tensor([[1, 1, 1, 0, 0]]))
    unpadded = encoder(ids[:, :3], torch.tensor([[1, 1, 1]]))
    changed_last = encoder(torch.tensor([[5, 6, 9]]), torch.tensor([[1, 1, 1]]))

    torch.testing.assert_close(padded[0], unpadded[0], atol=1e-5, rtol=1e-5)
    # The first token's tag depends on a later token: attention is not causal.
    assert not torch.allclose(unpadded[1][0, 0], changed_last[1][0, 0])


def test_tags_to_spans_joins_inside_pieces():
    spans = tags_to_spans(["O", "B-order_id", "I-order_id", "O"], [(0, 5), (6, 9), (9, 14), (15, 18)])

    assert spans == [(6, 14, "order_id")]


def test_encoder_model_round_trips_through_its_files(tmp_path):
    examples = [e for e in shipped_examples() if e.intent in ("track_order", "cancel_order", OUT_OF_SCOPE)]
    model, info = train_encoder_model(examples, n_layer=1, n_embd=32, n_head=2, epochs=2, progress=False)

    save_model(model, tmp_path)
    loaded = model_from_artifact(json.loads((tmp_path / "config.json").read_text()), load_file(tmp_path / "model.safetensors"))

    texts = ["where is my order AI-7KQ2M9XPLA", "cancel it"]
    assert [u.intent for u in loaded.predict_batch(texts)] == [u.intent for u in model.predict_batch(texts)]
    assert loaded.predict(texts[0]).slots["order_id"] == "AI-7KQ2M9XPLA"
    assert (tmp_path / "tokenizer.json").is_file() and info["parameters"] > 0
