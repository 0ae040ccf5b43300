"""Generation: the real batched path on the tiny model, the grounding loop (regenerate, keep the best, flag),
and the choice between the fine-tuned version and the base model."""
from decimal import Decimal

from copywriter import generation
from copywriter.generation import CopyRequest, generate_copy
from copywriter.grounding import clean_output
from copywriter.prompts import ProductFacts

FACTS = ProductFacts(title="Parx Men Blue Checked Casual Shirt", brand="Parx", category="Men > Shirts", colour="Blue",
                     attributes=(("type", "Shirt"),), sizes=("M", "L"), price=Decimal("719.00"))


def test_the_tiny_model_writes_a_batch_of_plain_texts_within_their_limits():
    requests = [CopyRequest(FACTS, "seo_title"), CopyRequest(FACTS, "seo_meta"), CopyRequest(FACTS, "promo")]

    results = generate_copy(requests, known_brands={"Parx", "Roadster"})

    assert [r.model_version for r in results] == ["base"] * 3
    assert len(results[0].text) <= 60 and len(results[1].text) <= 155 and len(results[2].text) <= 140
    assert all(clean_output(r.text, r_kind) == r.text for r, r_kind in zip(results, ["seo_title", "seo_meta", "promo"]))
    assert all(1 <= r.attempts <= 3 for r in results)


def test_faithful_output_is_kept_at_the_first_attempt(planted):
    calls = planted(lambda request, attempt: "Blue checked shirt from Parx.")

    [result] = generate_copy([CopyRequest(FACTS, "description")])

    assert (result.text, result.findings, result.attempts, result.flagged) == ("Blue checked shirt from Parx.", [], 1, False)
    assert calls == [(1, 0)]


def test_a_hallucinating_row_is_regenerated_alone_until_grounded(planted):
    def writer(request, attempt):
        if request.kind == "promo" and attempt < 2:
            return "Red shirt, waterproof!"
        return "Blue shirt from Parx."

    calls = planted(writer)

    results = generate_copy([CopyRequest(FACTS, "description"), CopyRequest(FACTS, "promo")])

    assert [(r.text, r.attempts, r.flagged) for r in results] == [
        ("Blue shirt from Parx.", 1, False), ("Blue shirt from Parx.", 3, False)
    ]
    assert calls == [(2, 0), (1, 1), (1, 2)]  # retries are sampled (attempt > 0) and only for the failing row


def test_a_fact_that_persists_is_flagged_and_the_least_wrong_text_kept(planted):
    texts = {0: "Red linen shirt with 4 pockets.", 1: "Red shirt.", 2: "Green linen shirt, 2 pockets."}
    planted(lambda request, attempt: texts[attempt])

    [result] = generate_copy([CopyRequest(FACTS, "description")])

    assert result.text == "Red shirt." and result.flagged and result.attempts == 3
    assert [(f.kind, f.text) for f in result.findings] == [("colour", "Red")]


def test_a_persisting_fact_in_a_later_clause_is_dropped_and_the_rest_kept(planted):
    texts = {0: "Blue shirt from Parx, has a spread collar, and 2 pockets.", 1: "Blue shirt, waterproof, and 4 pockets.",
             2: "Blue shirt in linen, 2 pockets."}
    planted(lambda request, attempt: texts[attempt])

    [result] = generate_copy([CopyRequest(FACTS, "description")])

    assert (result.text, result.findings, result.flagged) == ("Blue shirt from Parx, has a spread collar.", [], False)


def test_a_description_leaving_out_the_colour_or_type_is_written_again(planted):
    texts = {0: "Checked casual pick from Parx.", 1: "Checked shirt from Parx.", 2: "Blue checked shirt from Parx."}
    calls = planted(lambda request, attempt: texts[attempt] if request.kind == "description" else "Checked pick.")

    description, promo = generate_copy([CopyRequest(FACTS, "description"), CopyRequest(FACTS, "promo")])

    assert (description.text, description.attempts, description.unnamed, description.flagged) == \
        ("Blue checked shirt from Parx.", 3, 0, False)
    assert (promo.text, promo.attempts) == ("Checked pick.", 1)  # only descriptions must name them
    assert calls == [(2, 0), (1, 1), (1, 2)]


def test_the_description_naming_most_facts_is_kept_and_completed_from_the_facts(planted):
    texts = {0: "Checked casual pick from Parx.", 1: "Checked shirt from Parx.", 2: "A checked pick."}
    planted(lambda request, attempt: texts[attempt])

    [result] = generate_copy([CopyRequest(FACTS, "description")])

    # The best attempt names the type only; a plain sentence from the facts names the colour too.
    assert result.text == "Checked shirt from Parx. A blue shirt from Parx."
    assert (result.unnamed, result.completed, result.flagged, result.first_findings) == (0, True, False, 0)


def test_markup_in_model_output_is_stripped_before_the_check(planted):
    planted(lambda request, attempt: "<script>alert('x')</script><b>Blue</b> shirt")

    [result] = generate_copy([CopyRequest(FACTS, "promo")])

    assert result.text == "alert('x')Blue shirt"


def test_without_an_active_version_the_base_model_writes_everything():
    assert generation.active_version() is None
    assert generation.engine_for("description").version == "base"


def test_a_broken_active_version_falls_back_to_the_base_model(settings):
    task = settings.MODEL_DIR / "copywriter" / "v1"
    task.mkdir(parents=True)
    (settings.MODEL_DIR / "copywriter" / "ACTIVE").write_text("v1\n")

    assert generation.engine_for("description").version == "base"


def test_a_text_cut_by_the_token_limit_keeps_its_last_complete_clause(monkeypatch):
    from llm_core.generate import GenerationResult

    def fake_generate(model, tokenizer, prompts, **kwargs):
        return [GenerationResult("Blue checked shirt, has a spread collar, long sle", [], 5, "length"),
                GenerationResult("Blue shirt, done", [], 5, "eos")]

    monkeypatch.setattr(generation, "generate", fake_generate)

    texts = generation._complete(generation.base_engine(), [CopyRequest(FACTS, "description")] * 2, 0)

    assert texts == ["Blue checked shirt, has a spread collar", "Blue shirt, done"]
