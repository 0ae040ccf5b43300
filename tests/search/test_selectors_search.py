from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Product
from catalog.selectors import ProductFilters
from catalog.search.selectors import autocomplete, search_products
from catalog.search.services import index_products


def titles(results) -> list[str]:
    return [p.title for p in results.products]


def test_the_example_query_finds_red_cotton_kurtas_for_women_under_1500(small_catalog):
    results = search_products(query="red cotton kurta for women under 1500")

    assert titles(results) == ["Anouk Women Red Cotton Printed Kurta"]
    assert [c.label for c in results.chips] == ["Under ₹1,500", "Colour: red", "For: Women"]
    assert results.filters.max_price == Decimal(1500)


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_every_mode_ranks_the_products_that_match_all_words_first(small_catalog, mode):
    results = search_products(query="red kurta", mode=mode)

    assert set(titles(results)[:3]) == {
        "Anouk Women Red Cotton Printed Kurta", "Biba Women Red Silk Kurta", "Manyavar Men Red Cotton Kurta"
    }


def test_keyword_ranking_weighs_the_title_above_the_description(small_catalog, make_product):
    make_product("Roadster Men Blue Shirt", brand="Roadster", category="Shirts",
                 description="Goes well with a denim jacket")
    index_products()

    results = search_products(query="jacket", mode="keyword")

    assert titles(results) == ["Roadster Men Black Denim Jacket", "Roadster Men Blue Shirt"]


def test_keyword_matching_prefers_all_words_then_falls_back_to_some(small_catalog):
    results = search_products(query="silk kurta", mode="keyword")

    assert titles(results)[0] == "Biba Women Red Silk Kurta"
    assert len(results.products) == 4  # the other kurtas match one word


def test_semantic_ranking_finds_paraphrases_that_keyword_search_misses(small_catalog):
    keyword = search_products(query="tee for men", mode="keyword")
    hybrid = search_products(query="tee for men", mode="hybrid")

    assert titles(keyword) == []
    assert set(titles(hybrid)[:2]) == {"Puma Men Black Printed T-shirt", "HRX Men White Solid T-shirt"}


def test_popular_and_converting_products_win_near_ties(small_catalog):
    Product.objects.filter(pk=small_catalog["white_tshirt_m"].pk).update(view_count=500, sales_count=120)

    results = search_products(query="tshirt for men")

    assert titles(results)[0] == "HRX Men White Solid T-shirt"


def test_inactive_products_are_never_found(small_catalog):
    for mode in ("keyword", "semantic", "hybrid"):
        assert "Anouk Women Red Kurta Old Season" not in titles(search_products(query="old season kurta", mode=mode))


def test_spelling_is_corrected_and_can_be_turned_off(small_catalog):
    corrected = search_products(query="jaket")
    exact = search_products(query="jaket", correct_spelling=False, mode="keyword")

    assert titles(corrected) == ["Roadster Men Black Denim Jacket"]
    assert corrected.corrected_query == "jacket"
    assert titles(exact) == []


def test_brand_size_and_price_filters_from_the_words_apply(small_catalog):
    assert titles(search_products(query="puma tshirt size xl")) == ["Puma Men Black Printed T-shirt"]
    assert titles(search_products(query="sneakers uk 8")) == ["Puma Men White Sneakers"]
    assert titles(search_products(query="us polo shirt")) == ["US Polo Assn Men Green Casual Shirt"]
    assert titles(search_products(query="kurta above 2000")) == ["Biba Women Red Silk Kurta"]


def test_explicit_filters_override_the_words_dimension_by_dimension(small_catalog):
    results = search_products(query="red kurta for women", filters=ProductFilters(colours=("Blue",)))

    assert titles(results) == ["Anouk Women Blue Cotton Kurta"]
    assert [c.key for c in results.chips] == ["audience"]  # the colour chip gave way to the explicit colour


def test_filters_alone_list_the_popular_products_that_pass_them(small_catalog):
    Product.objects.filter(pk=small_catalog["navy_trousers_m"].pk).update(sales_count=9)

    results = search_products(query="for men under 2500")

    assert titles(results)[0] == "Louis Philippe Men Navy Blue Slim Fit Formal Trousers"
    assert all(p.price <= 2500 for p in results.products)
    assert {p.audience for p in results.products} <= {"men", "unisex"}


@pytest.mark.parametrize(
    "sort, first",
    [("price_asc", "HRX Men White Solid T-shirt"), ("price_desc", "Puma Men White Sneakers")],
)
def test_results_can_be_sorted(small_catalog, sort, first):
    results = search_products(query="for men", sort=sort)

    assert titles(results)[0] == first


def test_results_are_paginated(small_catalog):
    first = search_products(query="for men", page=1, page_size=3)
    second = search_products(query="for men", page=2, page_size=3)

    assert first.total == second.total == 7
    assert len(first.products) == 3 and len(second.products) == 3
    assert not set(titles(first)) & set(titles(second))


def test_zero_results_suggest_filters_to_drop_and_popular_products_of_the_category(small_catalog):
    Product.objects.filter(pk=small_catalog["blue_kurta_w"].pk).update(sales_count=3)

    results = search_products(query="kurta for women under 500")

    assert results.total == 0
    [relaxation] = results.relaxations
    assert relaxation.chip.label == "Under ₹500"
    assert relaxation.chip.remove_query == "kurta for women"
    assert relaxation.count == search_products(query="kurta for women").total
    assert results.popular_category.name == "Kurtas"
    assert results.popular[0].title == "Anouk Women Blue Cotton Kurta"


def test_an_empty_query_gives_popular_products(small_catalog):
    results = search_products(query="   ")

    assert results.total == 0
    assert len(results.popular) == 8


def test_a_search_runs_a_fixed_number_of_queries_whatever_the_page_size(small_catalog, make_product):
    for n in range(30):
        make_product(f"Puma Men Running Tshirt {n}", brand="Puma", category="T-Shirts", audience="men")
    index_products()
    search_products(query="tshirt")  # loads the vectors and vocabulary once

    counts = []
    for page_size in (2, 24):
        with CaptureQueriesContext(connection) as queries:
            search_products(query="puma tshirt for men", page_size=page_size)
        counts.append(len(queries))

    # Index generation; the keyword match ("puma" is a brand filter, so one word: one statement on
    # PostgreSQL, the two tiers "in the name" and "anywhere" on SQLite); the candidates' popularity; the
    # products; their stock. The ids passing the filters come from the in-memory facets, not from a query.
    keyword = 1 if connection.vendor == "postgresql" else 2
    assert counts[0] == counts[1] == 4 + keyword


def test_only_a_size_filter_reads_the_filtered_ids_from_the_database(small_catalog):
    search_products(query="kurta")  # loads the vectors, facets and vocabulary once

    with CaptureQueriesContext(connection) as plain:
        search_products(query="red kurta for women under 2000")
    with CaptureQueriesContext(connection) as sized:
        search_products(query="red kurta for women under 2000", filters=ProductFilters(sizes=("M",)))

    assert len(sized) == len(plain) + 1


def test_autocomplete_offers_words_brands_and_products(small_catalog):
    suggestions = autocomplete(prefix="pu")

    assert suggestions[0].kind == "brand" and suggestions[0].label == "Puma"
    products = [s.label for s in suggestions if s.kind == "product"]
    assert set(products) == {
        "Puma Men Black Printed T-shirt", "Puma Women White Round Neck T-shirt", "Puma Men White Sneakers"
    }


def test_autocomplete_completes_the_last_word_after_the_first(small_catalog):
    suggestions = autocomplete(prefix="red ku")

    assert [s.query for s in suggestions if s.kind == "query"] == ["red kurta"]
    assert all("Kurta" in s.label for s in suggestions if s.kind == "product")


@pytest.mark.parametrize("prefix", ["", "a", "  ", "!!", "\"*", "ü" * 300, "NEAR(", "OR"])
def test_autocomplete_of_odd_prefixes_is_empty_or_harmless(small_catalog, prefix):
    assert isinstance(autocomplete(prefix=prefix), list)


def test_words_found_only_in_a_description_do_not_count_as_a_complete_match(small_catalog, make_product):
    make_product("Saree Mall Women Green Printed Saree", category="Sarees", audience="women",
                 description="Comes with an unstitched blouse piece")
    make_product("Anouk Women Green Solid Blouse", category="Tops", audience="women")
    index_products()

    from catalog.search.backends import keyword_backend
    from catalog.search.selectors import _active_ids, _within

    hits = {h.pk: h.complete for h in keyword_backend().ranked(["blouse"], within=_within(_active_ids()), limit=10)}
    titles_by_id = dict(Product.objects.values_list("pk", "title"))
    assert {titles_by_id[pk]: complete for pk, complete in hits.items()} == {
        "Anouk Women Green Solid Blouse": True, "Saree Mall Women Green Printed Saree": False
    }


def test_when_no_single_filter_is_to_blame_dropping_them_all_is_suggested(small_catalog):
    results = search_products(query="green kurta for men under 500")

    assert results.total == 0
    [relaxation] = results.relaxations
    assert (relaxation.chip.key, relaxation.chip.remove_query) == ("all", "kurta")
    assert relaxation.count == search_products(query="kurta").total
