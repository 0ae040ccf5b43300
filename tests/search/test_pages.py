import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import ShopperEvent
from catalog.search.services import index_products
from tests.search.test_api import ODD_QUERIES

URL = "/search/"


def test_the_results_page_is_named_search_results():
    assert reverse("search:results") == URL


def test_results_show_products_and_removable_chips(client, small_catalog):
    response = client.get(URL, {"q": "red cotton kurta for women under 1500"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Anouk Women Red Cotton Printed Kurta" in html
    chips = {chip.label: chip.url for chip in response.context["chips"]}
    assert chips == {
        "Under ₹1,500": "?q=red+cotton+kurta+for+women",
        "Colour: red": "?q=cotton+kurta+for+women+under+1500",
        "For: Women": "?q=red+cotton+kurta+under+1500",
    }
    assert 'href="?q=red+cotton+kurta+for+women"' in html


def test_facet_filters_show_as_chips_that_drop_their_parameter(client, small_catalog):
    response = client.get(URL, {"q": "kurta", "colour": ["Red", "Blue"], "page": "1"})

    chips = {chip.label: chip.url for chip in response.context["chips"]}
    assert chips == {"Colour: Red": "?q=kurta&colour=Blue", "Colour: Blue": "?q=kurta&colour=Red"}


def test_a_correction_is_announced_with_a_way_back(client, small_catalog):
    response = client.get(URL, {"q": "jaket"})

    html = response.content.decode()
    assert "Showing results for <strong>jacket</strong>" in html
    assert 'href="?q=jaket&amp;exact=1"' in html
    assert "Roadster Men Black Denim Jacket" in html


def test_zero_results_suggest_relaxed_filters_and_popular_products(client, small_catalog):
    response = client.get(URL, {"q": "kurta for women under 500"})

    html = response.content.decode()
    assert "No products found" in html
    assert "Remove “Under ₹500”" in html
    assert 'href="?q=kurta+for+women"' in html
    assert "Popular in Kurtas" in html


def test_an_empty_search_shows_popular_products(client, small_catalog):
    response = client.get(URL)

    assert response.status_code == 200
    assert "What are you looking for?" in response.content.decode()
    assert "Popular right now" in response.content.decode()


def test_a_search_is_recorded_for_the_recommender_once(client, small_catalog, django_user_model):
    user = django_user_model.objects.create_user("shopper", password="pw-123456789")
    client.force_login(user)

    client.get(URL, {"q": "red kurta"})
    client.get(URL, {"q": "red kurta", "page": "2"})
    client.get(URL, {"q": "red kurta", "sort": "price_asc"})
    client.get(URL, {"q": "  "})

    [event] = ShopperEvent.objects.all()
    assert (event.kind, event.query, event.user) == ("search", "red kurta", user)


@pytest.mark.parametrize("query", ODD_QUERIES)
def test_odd_queries_never_answer_500(client, small_catalog, query):
    params = {"q": query, "page": "x", "sort": "?", "min_price": "-5", "colour": "é" * 50}

    assert client.get(URL, params).status_code == 200


def test_a_very_long_query_is_cut_not_refused(client, small_catalog):
    response = client.get(URL, {"q": "red kurta " * 200})

    assert response.status_code == 200
    assert len(response.context["query"]) == 200


def test_the_results_page_num_queries_do_not_grow_with_the_results(client, small_catalog, make_product, settings):
    for n in range(30):
        make_product(f"Puma Men Running Tshirt {n}", brand="Puma", category="T-Shirts", audience="men")
    index_products()
    client.get(URL, {"q": "tshirt"})

    counts = []
    for page_size in (2, 24):
        settings.CATALOG_PAGE_SIZE = page_size
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL, {"q": "puma tshirt for men"}).status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1]
