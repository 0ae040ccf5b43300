"""Training: a stable hashed held-out split, faithful targets, the top-layers loss, adapters that round-trip,
and train_copywriter end to end on the tiny model (registered, activated, then served)."""
import json

import pytest
import torch
from django.core.management import call_command

from copywriter import adapters, generation, training
from copywriter.prompts import ProductFacts
from copywriter.training import CatalogPair, training_target, split_held_out, top_layers_loss
from llm_core import smollm2
from llm_core.data import chat_example, collate
from llm_core.lora import LoRAConfig, merge_lora
from llm_core.registry import Registry
from tests.copywriter.catalog_sample import write_sample
from tests.copywriter.tiny_model import tiny_model, tiny_tokenizer

FACTS = ProductFacts(title="Parx Men Blue Checked Casual Shirt", brand="Parx", colour="Blue")


def pair(key: str, description: str = "Blue checked casual shirt, has a spread collar.") -> CatalogPair:
    return CatalogPair(key, FACTS, description, {})


def test_the_held_out_split_depends_only_on_each_products_id():
    pairs = [pair(str(n)) for n in range(200)]

    _, held = split_held_out(pairs, 20)
    _, held_again = split_held_out(list(reversed(pairs)) + [pair(str(n)) for n in range(200, 260)], 20)

    assert len(held) == 20
    # More products can only push a product out of the held-out set, never pull a training one in.
    assert {p.key for p in held_again} <= {p.key for p in held} | {str(n) for n in range(200, 260)}
    assert {p.key for p in split_held_out(pairs, 20)[1]} == {p.key for p in held}


def test_training_targets_drop_clauses_with_facts_the_input_lacks():
    brands = {"Parx"}

    assert training_target(pair("1", "Blue checked shirt, has a spread collar. Warranty: 2 years."), brands) == \
        "Blue checked shirt, has a spread collar."
    assert training_target(pair("4", "Blue checked shirt, has a spread collar, long sleeves, and 1 patch pocket"), brands) == \
        "Blue checked shirt, has a spread collar, long sleeves"
    assert training_target(pair("2", "Red linen shirt. Has a collar."), brands) is None
    assert training_target(pair("3", "Blue."), brands) is None


def test_targets_that_leave_out_the_colour_or_type_are_not_taught():
    assert training_target(pair("5", "Checked casual shirt, has a spread collar and long sleeves."), {"Parx"}) is None
    assert training_target(pair("6", "A blue checked design, has a spread collar and long sleeves."), {"Parx"}) is None


def test_the_top_layers_loss_equals_the_models_own_loss():
    model, tokenizer = tiny_model(n_layer=3), tiny_tokenizer()
    messages = training.training_messages(FACTS, "Blue checked casual shirt.")
    batch = collate([chat_example(messages, tokenizer.encode, 256)], tokenizer.pad_id)

    expected = model(batch["input_ids"], targets=batch["targets"])[1]

    assert torch.allclose(top_layers_loss(2)(model, batch), expected, atol=1e-5)


def test_adapters_round_trip_and_only_the_top_layers_train(tmp_path):
    model = tiny_model(n_layer=3)
    adapters.attach(model, LoRAConfig(rank=2, alpha=4), [2])
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.fill_(0.1)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    adapters.save(model, tmp_path / "a.safetensors")
    ids = torch.tensor([[5, 6, 7, 8]])
    expected = model(ids)[0]

    fresh = tiny_model(n_layer=3)
    adapters.load(fresh, tmp_path / "a.safetensors")

    assert trainable and all(name.startswith("layers.2.") and "lora_" in name for name in trainable)
    assert torch.allclose(fresh(ids)[0], expected, atol=1e-6)
    assert torch.allclose(merge_lora(fresh)(ids)[0], expected, atol=1e-5)


@pytest.fixture
def tiny_smollm2(monkeypatch):
    """train_copywriter and the fine-tuned loader get the tiny model where they ask for SmolLM2."""
    monkeypatch.setattr(smollm2, "load_smollm2", lambda *args, **kwargs: (tiny_model(n_layer=2), tiny_tokenizer()))


def test_train_copywriter_registers_activates_and_serves_a_version(tiny_smollm2, tmp_path, settings, capsys, db):
    catalog = write_sample(tmp_path / "catalog.csv", 30)

    call_command("train_copywriter", "--catalog", str(catalog), "--held-out", "10", "--max-steps", "2",
                 "--batch-size", "2", "--layers", "1", "--rank", "2", "--max-len", "1000", "--quiet")

    version = Registry(settings.MODEL_DIR).active_version("copywriter")
    folder = settings.MODEL_DIR / "copywriter" / version
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["held_out_products"] == 10
    assert json.loads((folder / "config.json").read_text())["kinds"] == ["description"]
    assert (folder / "loss.png").is_file()
    held_out = (settings.VAR_DIR / "copywriter" / "held_out.csv").read_text().splitlines()
    assert held_out[0].startswith("Product_ID,Product_Name") and len(held_out) == 11
    assert f"copywriter {version} registered and activated" in capsys.readouterr().out

    assert generation.engine_for("description").version == version
    assert generation.engine_for("seo_title").version == "base"  # not a kind this version was trained for

    call_command("train_copywriter", "--catalog", str(catalog), "--held-out", "10", "--max-steps", "1",
                 "--batch-size", "2", "--max-len", "1000", "--init-from", version, "--no-activate", "--quiet")

    registry = Registry(settings.MODEL_DIR)
    continued = next(v for v in registry.list_versions("copywriter") if v != version)
    assert registry.load_artifact("copywriter", continued).metrics["total_steps"] == 3
    assert registry.active_version("copywriter") == version


def test_a_time_budget_ends_training_early(tiny_smollm2, tmp_path, settings, db):
    catalog = write_sample(tmp_path / "catalog.csv", 30)

    report = training.train(training.TrainOptions(
        out_dir=tmp_path / "run", catalog=catalog, held_out=10, max_steps=50, batch_size=2, adapted_layers=1,
        rank=2, max_len=1000, time_budget_s=0.0, progress=False, activate=False,
    ))

    assert report.metrics["steps"] == 1
