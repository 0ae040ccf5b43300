"""Evaluation: the metrics on hand-checked cases, the template baseline, and evaluate_copywriter's JSON line."""
import json

import pytest
from django.core.management import call_command

from copywriter.evaluation import corpus_bleu, distinct_2, lcs_length, rouge_l, template_description
from copywriter.grounding import coverage_counts
from copywriter.prompts import ProductFacts
from tests.copywriter.catalog_sample import write_sample


def test_lcs_and_rouge_l():
    assert lcs_length("a b c d".split(), "a c d e".split()) == 3
    assert rouge_l("blue checked shirt", "blue checked shirt") == 1.0
    assert rouge_l("blue shirt", "blue checked casual shirt") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert rouge_l("", "anything") == 0.0


def test_bleu_is_one_for_identical_text_and_penalises_brevity():
    reference = "blue checked casual shirt has a spread collar and long sleeves"
    assert corpus_bleu([reference], [reference]) == pytest.approx(1.0)
    short = corpus_bleu(["blue checked casual shirt has a"], [reference])
    assert 0 < short < 0.6
    assert corpus_bleu(["red"], [reference]) == 0.0


def test_distinct_2():
    assert distinct_2(["a b a b"]) == pytest.approx(2 / 3)
    assert distinct_2([]) == 0.0


def test_coverage_counts_colour_type_and_material():
    facts = ProductFacts(title="Anouk Women Navy Blue Printed Cotton Kurta", brand="Anouk", colour="Navy Blue")

    assert coverage_counts("Navy printed kurta in soft cotton.", facts) == (3, 3)
    assert coverage_counts("A printed kurti.", facts) == (1, 3)


def test_the_template_uses_only_the_facts():
    facts = ProductFacts(title="Parx Men Blue Slim Fit Checked Casual Shirt", brand="Parx", colour="Blue",
                         attributes=(("pattern", "checked"), ("fit", "slim")))

    assert template_description(facts) == "Blue checked shirt in a slim fit from Parx."


def test_evaluate_copywriter_prints_the_summary_json_last(tmp_path, capsys, faithful, db):
    catalog = write_sample(tmp_path / "held_out.csv", 12)

    call_command("evaluate_copywriter", "--catalog", str(catalog), "--limit", "9", "--json", verbosity=0)

    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["products"] == 9 and summary["finetuned"] is None  # no version is active on a fresh machine
    for name in ("zero_shot", "template"):
        assert set(summary[name]) >= {"rouge_l", "bleu", "coverage", "hallucination", "distinct_2", "mean_chars"}
    assert summary["template"]["hallucination"] == 0.0
    assert summary["zero_shot"]["coverage"] > 0.5
    assert summary["descriptions_per_minute"] > 0
