"""Training from the shop's events, the registry version it leaves, and the batch refresh."""
import json

import pytest
from django.core.management import call_command

from recommender import services
from recommender.models import ShopperRecommendations
from recommender.serving import TASK, active_model, registry
from shop.errors import ApplicationError

from .conftest import FAST_TRAINING


def test_training_registers_and_activates_a_version_with_metrics_and_a_curve(trained_model):
    path = registry().task_dir(TASK) / trained_model.version
    assert registry().active_version(TASK) == trained_model.version
    for name in ("config.json", "model.safetensors", "items.json", "metrics.json", "README.md", "curve.png",
                 "cooccurrence.safetensors", "history.jsonl"):
        assert (path / name).is_file(), name
    metrics = json.loads((path / "metrics.json").read_text())
    assert set(metrics["full"]) >= {"model", "popularity", "cooccurrence", "users"}
    assert metrics["shoppers"] == 24
    serving = active_model()
    assert serving is not None and serving.version == trained_model.version


def test_the_vocabulary_holds_every_active_product_even_unclicked_ones(trained_model, store):
    serving = active_model()
    assert store["run-vest"].pk in serving.index_of  # sold out, never viewed: still known to the model
    assert store["run-gel"].pk not in serving.index_of  # inactive


def test_training_with_too_few_shoppers_is_refused(store, make_user, record_events):
    record_events([store["pan"], store["pot"], store["knife"]], user=make_user())
    with pytest.raises(ApplicationError, match="at least 10"):
        services.recommender_train(training=FAST_TRAINING)


def test_train_command_reports_the_version(shoppers, capsys):
    call_command("train_recommender", epochs=2, threads=1, json=True, verbosity=0)
    out = capsys.readouterr().out.strip().splitlines()
    assert "registered and activated" in out[0]
    assert json.loads(out[-1])["version"] == registry().active_version(TASK)


def _stored(user) -> list[int]:
    return [row["product"] for row in ShopperRecommendations.objects.get(user=user).items]


def test_refresh_stores_each_active_shoppers_top_items_with_reasons(trained_model, shoppers):
    result = services.recommendations_refresh()
    assert (result.shoppers, result.written, result.strategy) == (24, 24, "model")
    row = ShopperRecommendations.objects.get(user=shoppers[0])
    assert row.model_version == trained_model.version
    assert row.items and all(item["because"] for item in row.items)


def test_refresh_twice_leaves_the_same_rows(trained_model, shoppers):
    services.recommendations_refresh()
    first = {r.user_id: r.items for r in ShopperRecommendations.objects.all()}
    services.recommendations_refresh()
    again = {r.user_id: r.items for r in ShopperRecommendations.objects.all()}
    assert first == again and ShopperRecommendations.objects.count() == 24


@pytest.mark.parametrize("with_model", [True, False])
def test_refresh_excludes_purchased_sold_out_and_inactive_products(request, with_model, shoppers, store, record_events):
    if with_model:
        request.getfixturevalue("trained_model")
    shopper = shoppers[0]
    record_events([store["run-shorts"]], user=shopper, kinds=["purchase"])
    result = services.recommendations_refresh(user_ids=[shopper.pk])
    assert result.strategy == ("model" if with_model else "cooccurrence")
    stored = _stored(shopper)
    assert stored
    assert not {store["run-shorts"].pk, store["run-vest"].pk, store["run-gel"].pk} & set(stored)


def test_refresh_task_runs_in_process_and_reports(shoppers):
    from recommender.tasks import refresh_recommendations

    summary = refresh_recommendations.delay(user_ids=[shoppers[0].pk, shoppers[1].pk]).get()
    assert summary["shoppers"] == 2 and summary["strategy"] == "cooccurrence"


def test_refresh_command_prints_the_throughput(shoppers, capsys):
    call_command("refresh_recommendations", verbosity=0)
    assert "24 of 24 shoppers refreshed by cooccurrence" in capsys.readouterr().out


def test_similar_products_are_text_neighbours(store):
    import numpy as np

    def fake_embed(texts: list[str]) -> np.ndarray:
        # Kitchen texts point one way, running texts another: neighbours stay within their kind.
        vectors = np.array([[1.0, 0.0] if "Kitchen" in text else [0.0, 1.0] for text in texts], dtype=np.float32)
        return vectors + np.random.default_rng(0).normal(0, 0.01, vectors.shape).astype(np.float32)

    written = services.similar_products_refresh(embed=fake_embed)
    assert written == 12  # the active products
    from recommender.models import SimilarProducts

    neighbours = [row["product"] for row in SimilarProducts.objects.get(product=store["pan"]).items]
    kitchen = {store[key].pk for key in ("pot", "knife", "spatula", "whisk")}
    assert set(neighbours[:4]) == kitchen and store["pan"].pk not in neighbours


def test_training_with_text_joins_product_text_vectors(shoppers, store, monkeypatch):
    import numpy as np
    import torch

    seen: list[str] = []

    def fake_embed(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return np.random.default_rng(0).normal(size=(len(texts), 384)).astype(np.float32)

    monkeypatch.setattr(services, "_embed", fake_embed)
    services.recommender_train(training=FAST_TRAINING, use_text=True)
    serving = active_model()
    assert serving.model.config.text_dim == 384
    assert any(text.startswith("Run Vest. Trail. Running") for text in seen)
    vest = serving.index_of[store["run-vest"].pk]  # never clicked: its vector comes from its text
    assert torch.count_nonzero(serving.model.text_vectors[vest]) == 384
