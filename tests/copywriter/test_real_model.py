"""The real SmolLM2 weights, zero-shot, as a fresh machine runs them (slow: loads 135M parameters)."""
from decimal import Decimal

import pytest

from copywriter import generation, grounding
from copywriter.generation import CopyRequest, generate_copy
from copywriter.prompts import ProductFacts
from llm_core import serving

pytestmark = pytest.mark.slow

FACTS = ProductFacts(title="Roadster Men Black Solid Denim Jacket", brand="Roadster", category="Men > Jackets",
                     colour="Black", attributes=(("type", "Jacket"), ("pattern", "solid")), sizes=("M", "L", "XL"),
                     price=Decimal("1999.00"))


@pytest.fixture
def real_base_model(monkeypatch):
    monkeypatch.undo()  # drop the tiny model the suite installs in its place
    serving.forget("base/smollm2-135m-instruct")
    yield
    serving.forget("base/smollm2-135m-instruct")  # 0.5 GB the rest of the suite does not need


def test_the_base_model_writes_grounded_plain_seo_copy_in_a_batch(real_base_model):
    requests = [CopyRequest(FACTS, "seo_title"), CopyRequest(FACTS, "seo_meta")]

    results = generate_copy(requests, engine=generation.base_engine(), known_brands={"Roadster", "Levis"})

    assert [r.model_version for r in results] == ["base", "base"]
    assert 0 < len(results[0].text) <= 60 and 0 < len(results[1].text) <= 155
    for result in results:
        assert "<" not in result.text and "\n" not in result.text
        assert result.flagged == bool(grounding.check(result.text, FACTS.source_text(), {"Roadster", "Levis"}))
