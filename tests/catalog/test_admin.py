"""The catalog admin pages open for staff, with stock totals and read-only events."""
import pytest
from django.contrib.auth import get_user_model

from catalog.models import Product, ShopperEvent
from catalog.services import event_record


@pytest.fixture
def staff_client(client, db):
    admin = get_user_model().objects.create_superuser(username="admin", email="a@example.com", password="x")
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/catalog/category/",
        "/admin/catalog/product/",
        "/admin/catalog/product/?brand=Petal&is_active__exact=1",
        "/admin/catalog/product/?q=OXFORD-SHIRT-M",
        "/admin/catalog/variant/",
        "/admin/catalog/shopperevent/",
    ],
)
def test_admin_changelists_open(staff_client, shop_catalog, url):
    assert staff_client.get(url).status_code == 200


def test_admin_product_list_shows_the_stock_total_over_variants(staff_client, shop_catalog):
    html = staff_client.get("/admin/catalog/product/?q=Red+Wrap").content.decode()

    assert '<td class="field-stock_total">7</td>' in html


def test_admin_product_search_by_sku_finds_the_product_once(staff_client, shop_catalog):
    response = staff_client.get("/admin/catalog/product/?q=RED-WRAP-DRESS")

    assert list(response.context["cl"].result_list) == [Product.objects.get(slug="red-wrap-dress")]


def test_admin_product_change_form_has_the_variants_inline(staff_client, shop_catalog):
    product = Product.objects.get(slug="oxford-shirt")

    html = staff_client.get(f"/admin/catalog/product/{product.pk}/change/").content.decode()

    assert 'value="OXFORD-SHIRT-L"' in html


def test_admin_shopper_events_are_read_only(staff_client, shop_catalog):
    event_record(kind=ShopperEvent.Kind.SEARCH, query="linen")
    event = ShopperEvent.objects.get()

    assert staff_client.get("/admin/catalog/shopperevent/add/").status_code == 403
    assert staff_client.post(f"/admin/catalog/shopperevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert staff_client.get(f"/admin/catalog/shopperevent/{event.pk}/change/").status_code == 200


def test_admin_edits_show_on_cached_storefront_pages_at_once(staff_client, shop_catalog):
    women = shop_catalog["women"]
    assert '<h1 class="page-title">Women</h1>' in staff_client.get("/c/women/").content.decode()  # cached now

    response = staff_client.post(
        f"/admin/catalog/category/{women.pk}/change/",
        {"name": "Womenswear", "slug": "women", "parent": "", "position": women.position},
    )

    assert response.status_code == 302
    assert '<h1 class="page-title">Womenswear</h1>' in staff_client.get("/c/women/").content.decode()


def test_admin_deletes_show_on_cached_storefront_pages_at_once(staff_client, shop_catalog):
    top = shop_catalog["products"]["white-top"]
    assert "White Linen Top" in staff_client.get("/c/women/").content.decode()

    staff_client.post(
        "/admin/catalog/product/", {"action": "delete_selected", "_selected_action": [top.pk], "post": "yes"}
    )

    assert not Product.objects.filter(pk=top.pk).exists()
    assert "White Linen Top" not in staff_client.get("/c/women/").content.decode()
