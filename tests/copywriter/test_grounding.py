"""The grounding check catches planted wrong colours, brands, materials, sizes, numbers and claims, and
passes faithful text; clean-up leaves plain text within each kind's limit."""
import pytest

from copywriter.grounding import check, clean_output, cut_to, mentions, naming_sentence, without_ungrounded_clauses
from copywriter.prompts import ProductFacts

SOURCE = """Title: Parx Men Navy Blue & Off-White Slim Fit Cotton Checked Casual Shirt
Brand: Parx
Category: Men > Shirts
Colour: Navy Blue
Type: Shirt
Pattern: checked
Sizes: M, L, XL
Price: INR 719"""
BRANDS = {"Parx", "Roadster", "Levis", "ONLY", "Mango", "with"}


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in check(text, SOURCE, BRANDS)]


def test_faithful_text_passes():
    text = ("Navy blue and off-white checked casual shirt from Parx, cut in cotton with a slim fit. "
            "Has a spread collar, long sleeves and a curved hem; sizes M to XL, at INR 719.")
    assert kinds(text) == []


def test_a_planted_wrong_colour_is_found_with_its_span():
    text = "Red checked casual shirt from Parx."
    [finding] = check(text, SOURCE, BRANDS)

    assert (finding.kind, finding.text, text[finding.start:finding.end]) == ("colour", "Red", "Red")


def test_colour_families_and_spellings_are_grounded():
    assert kinds("A navy shirt with off white checks, not gray.") == [("colour", "gray")]


def test_a_planted_other_brand_is_found_but_the_products_own_is_not():
    assert kinds("Parx shirt, as worn with Levis jeans by Roadster fans.") == [("brand", "Levis"), ("brand", "Roadster")]


def test_brands_that_are_ordinary_words_only_count_when_written_as_the_brand():
    assert kinds("Only the shirt, with checks, in a mango-yellow mood.") == [("colour", "yellow")]
    assert kinds("Pairs well with a Mango skirt.") == [("brand", "Mango")]


@pytest.mark.parametrize("text, expected", [
    ("Checked shirt with 4 pockets.", [("number", "4")]),
    ("Checked shirt, now at INR 999.", [("number", "999")]),
    ("Checked shirt with two pockets.", [("number", "two")]),
    ("Checked shirt at INR 719, in sizes M to XL.", []),
    ("Checked shirt with three-quarter sleeves.", []),
])
def test_planted_numbers_are_found(text, expected):
    assert kinds(text) == expected


def test_materials_sizes_and_claims_not_in_the_facts_are_found():
    text = "Waterproof linen shirt in XXL, with a 2-year warranty."
    assert kinds(text) == [("claim", "Waterproof"), ("material", "linen"), ("size", "XXL"), ("number", "2"),
                           ("claim", "warranty")]


def test_the_facts_own_material_is_grounded():
    assert kinds("Cotton checked shirt.") == []


def test_longest_lexicon_phrase_wins():
    assert kinds("Stainless steel buttons.") == [("material", "Stainless steel")]


@pytest.mark.parametrize("text, expected", [
    ("Navy checked shirt, has a spread collar, and 2 patch pockets.", "Navy checked shirt, has a spread collar."),
    ("Navy checked shirt, waterproof, slim fit. Warranty: 2 years. Sizes M to XL.", "Navy checked shirt, slim fit. Sizes M to XL."),
    ("Navy checked shirt; in linen", "Navy checked shirt"),
    ("- Navy checked shirt\n- Waterproof shell\n- Slim fit", "- Navy checked shirt\n- Slim fit"),
    ("Red checked shirt, has a spread collar.", None),  # the clause naming the product is wrong: nothing to keep
    ("Navy checked shirt from Parx.", "Navy checked shirt from Parx."),
])
def test_clauses_stating_unsupported_facts_are_dropped_and_punctuation_mended(text, expected):
    assert without_ungrounded_clauses(text, SOURCE, BRANDS) == expected


def test_the_naming_sentence_says_colour_material_and_type_and_passes_the_check():
    facts = ProductFacts(title="Parx Men Navy Blue Slim Fit Cotton Checked Casual Shirt", brand="Parx", colour="Navy Blue")

    sentence = naming_sentence(facts)

    assert sentence == "A navy blue cotton shirt from Parx."
    assert check(sentence, facts.source_text(), BRANDS) == []


def test_clean_output_strips_markup_labels_and_entities():
    raw = '<p>**Description:** Navy <b>checked</b> shirt &amp; more<script>alert(1)</script></p>'
    assert clean_output(raw, "description") == "Navy checked shirt & morealert(1)"


def test_seo_title_and_meta_are_cut_to_their_limits_at_a_word():
    title = clean_output('"' + "Navy checked casual shirt for men " * 4 + '"', "seo_title")
    meta = clean_output("Navy checked casual shirt for men. " * 10, "seo_meta")

    assert len(title) <= 60 and not title.endswith(" ") and '"' not in title
    assert len(meta) <= 155 and meta.endswith(".")


def test_bullets_become_dash_lines():
    raw = "Features:\n* Spread collar\n2) Long sleeves\n\n- Curved hem"
    assert clean_output(raw, "bullets") == "- Spread collar\n- Long sleeves\n- Curved hem"


def test_cut_to_prefers_a_sentence_then_a_clause():
    assert cut_to("One two three. Four five six seven.", 20) == "One two three."
    assert cut_to("Alpha beta gamma, delta epsilon zeta eta", 30) == "Alpha beta gamma"


def test_mentions_accepts_plurals_and_spelling_variants():
    assert mentions("Two grey shirts", "Gray shirt")
    assert not mentions("A blue shirt", "navy")


def test_loops_of_a_small_model_are_said_once():
    looped = "Red and grey varsity jacket, has a round neck, and has a round neck, and has a round neck"
    assert clean_output(looped, "description") == "Red and grey varsity jacket, has a round neck"
    assert clean_output("Black-black-black-black briefs", "description") == "Black briefs"
    assert clean_output("- Soft\n- Soft\n- Light", "bullets") == "- Soft\n- Light"
