import pytest

from catalog.search import selectors
from catalog.search.typos import Vocabulary, edit_distance, singular

WORDS = {
    "jacket": 90, "jackets": 10, "shirt": 400, "tshirt": 500, "sweatshirt": 60, "sneakers": 80, "trousers": 70,
    "kurta": 120, "cotton": 300, "puma": 60, "adidas": 40, "leather": 50, "tea": 5, "dress": 150, "dresses": 20,
}


@pytest.mark.parametrize(
    "a, b, distance",
    [("jacket", "jacket", 0), ("jaket", "jacket", 1), ("jcaket", "jacket", 1), ("shrit", "shirt", 1),
     ("kurta", "kurti", 1), ("sweetshrit", "sweatshirt", 2), ("", "abc", 3), ("abc", "", 3)],
)
def test_edit_distance_counts_inserts_deletes_substitutions_and_swaps(a, b, distance):
    assert edit_distance(a, b, limit=5) == distance


def test_edit_distance_stops_early_past_the_limit():
    assert edit_distance("kurta", "sweatshirt", limit=2) == 3


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("jaket", "jacket"),
        ("jackt", "jacket"),
        ("shrit", "shirt"),
        ("tshrit", "tshirt"),
        ("sneekers", "sneakers"),
        ("trousres", "trousers"),
        ("sweetshrit", "sweatshirt"),
        ("addidas", "adidas"),
        ("lether", "leather"),
        ("cottn", "cotton"),
    ],
)
def test_typos_are_corrected_to_the_nearest_catalog_word(typed, expected):
    assert Vocabulary(words=WORDS).correct(typed) == expected


@pytest.mark.parametrize(
    "typed", ["jacket", "jackets", "dresses", "kurtas", "tee", "abc", "1500", "xqzvw", "qqqqqqqqqq"]
)
def test_known_short_numeric_and_hopeless_words_are_left_alone(typed):
    assert Vocabulary(words=WORDS).correct(typed) is None


def test_between_equally_close_words_the_more_frequent_wins():
    vocabulary = Vocabulary(words={"shirt": 400, "skirt": 50})

    assert vocabulary.correct("sxirt") == "shirt"


def test_completions_are_the_most_frequent_words_with_the_prefix():
    assert Vocabulary(words=WORDS).complete("sh") == ["shirt"]
    assert Vocabulary(words=WORDS).complete("jack") == ["jacket", "jackets"]
    assert Vocabulary(words=WORDS).complete("") == []


@pytest.mark.parametrize(
    "word, expected", [("dresses", "dress"), ("kurtas", "kurta"), ("dress", "dress"), ("bus", "bus")]
)
def test_singular(word, expected):
    assert singular(word) == expected


def test_the_vocabulary_is_built_from_titles_brands_and_categories(small_catalog):
    vocabulary = selectors.vocabulary(generation=selectors.index_generation())

    assert vocabulary.words["kurta"] == 4  # four active kurtas; the inactive one does not count
    assert vocabulary.words["tshirt"] == 3
    assert vocabulary.words["sneakers"] == 2
    assert "old" not in vocabulary.words  # only in the inactive product's title
    assert vocabulary.brands["puma"] == ("Puma",)
    assert vocabulary.brands["us polo assn"] == ("U.S. Polo Assn.",)
    assert {"red", "blue", "navy", "white", "black", "green"} <= vocabulary.colours


def test_a_brand_that_is_an_ordinary_word_elsewhere_is_not_read_as_a_brand(make_product):
    from catalog.search.services import index_products

    make_product("Basics Men Blue Shirt", brand="Basics")
    for n in range(3):
        make_product(f"Roadster Men Basics Tshirt {n}", brand="Roadster")
    index_products()

    vocabulary = selectors.vocabulary(generation=selectors.index_generation())

    assert "basics" not in vocabulary.brands
    assert vocabulary.brands["roadster"] == ("Roadster",)


@pytest.mark.parametrize("word", ["tees", "sari", "ballet"])
def test_words_the_language_model_knows_are_not_corrected_to_catalog_words(word):
    vocabulary = Vocabulary(words={"ties": 50, "zari": 30, "wallet": 40}, language=frozenset({"tee", "sari", "ballet"}))

    assert vocabulary.correct(word) is None
    assert Vocabulary(words=vocabulary.words).correct(word) is not None  # without the language it would be
