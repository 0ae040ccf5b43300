"""Publishing merchant copy: product_copy_update writes a field or an attribute line, returns what it replaced,
validates lengths, and the cached product page shows the new text at once."""
import pytest

from catalog.models import Product
from catalog.selectors import product_copy
from catalog.services import product_copy_update
from shop.errors import ApplicationError, NotFoundError


def test_publishing_a_description_returns_the_old_one_and_moves_updated_at(shop_catalog):
    top = shop_catalog["products"]["white-top"]
    before = Product.objects.get(pk=top.pk)

    previous = product_copy_update(product_id=top.pk, field="description", text="A crisp white cotton top.")

    after = Product.objects.get(pk=top.pk)
    assert previous == before.description
    assert after.description == "A crisp white cotton top."
    assert after.updated_at > before.updated_at  # the search indexer reindexes changed products


def test_attribute_lines_are_set_and_cleared_without_touching_other_attributes(shop_catalog):
    top = shop_catalog["products"]["white-top"]
    Product.objects.filter(pk=top.pk).update(attributes={"fabric": "cotton"})

    assert product_copy_update(product_id=top.pk, field="promo_line", text="Summer's easiest top") == ""
    assert Product.objects.get(pk=top.pk).attributes == {"fabric": "cotton", "promo_line": "Summer's easiest top"}

    assert product_copy_update(product_id=top.pk, field="promo_line", text="") == "Summer's easiest top"
    product = Product.objects.get(pk=top.pk)
    assert product.attributes == {"fabric": "cotton"}
    assert product_copy(product=product, field="promo_line") == ""


def test_copy_longer_than_its_field_is_refused_and_nothing_changes(shop_catalog):
    top = shop_catalog["products"]["white-top"]

    with pytest.raises(ApplicationError) as refused:
        product_copy_update(product_id=top.pk, field="seo_title", text="x" * 61)

    assert refused.value.code == "too_long" and "seo_title" in refused.value.fields
    assert Product.objects.get(pk=top.pk).seo_title == ""


def test_unknown_products_and_fields_are_refused(shop_catalog):
    with pytest.raises(NotFoundError):
        product_copy_update(product_id=999_999, field="description", text="x")
    with pytest.raises(ValueError):
        product_copy_update(product_id=shop_catalog["products"]["white-top"].pk, field="title", text="x")


def test_the_cached_product_page_shows_published_copy_escaped(client, shop_catalog):
    top = shop_catalog["products"]["white-top"]
    client.get(top.get_absolute_url())  # cached now

    product_copy_update(product_id=top.pk, field="seo_title", text="<b>White top</b> · Aisle")

    html = client.get(top.get_absolute_url()).content.decode()
    assert "<title>&lt;b&gt;White top&lt;/b&gt; · Aisle</title>" in html
