"""Search events feed the recommender: a shopper's latest searches fill the home page's "Recommended for you"
before they have opened any product."""
from django.contrib.auth import get_user_model
from django.urls import reverse


def _home_slot(client) -> str:
    html = client.get(reverse("catalog:home")).content.decode()
    start = html.index('data-slot="home"')
    return html[start : html.index("</section>", start)]


def test_a_shoppers_searches_fill_their_recommendations(client, small_catalog):
    client.force_login(get_user_model().objects.create_user(username="searcher", password="pw-123456"))
    assert "Because you searched" not in _home_slot(client)

    client.get(reverse("search:results"), {"q": "denim jacket"})

    slot = _home_slot(client)
    assert "Because you searched for “denim jacket”" in slot
    assert small_catalog["black_jacket_m"].get_absolute_url() in slot
