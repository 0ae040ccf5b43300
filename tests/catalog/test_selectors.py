"""catalog.selectors: tree, listing with facets and sorting, search, detail, lookups."""
from decimal import Decimal

from catalog.models import Variant
from catalog.selectors import (
    FacetValue, ProductFilters, category_tree, parse_query, popular_products, product_detail, product_listing,
    product_search, products_by_ids, variant_by_sku, variants_by_ids,
)


def _slugs(products) -> list[str]:
    return [p.slug for p in products]


def test_category_tree_knows_descendants_ancestors_and_counts(shop_catalog):
    tree = category_tree(with_counts=True)

    women = shop_catalog["women"]
    assert sorted(tree.descendant_ids(women.pk)) == sorted(
        [women.pk, shop_catalog["dresses"].pk, shop_catalog["tops"].pk]
    )
    assert [c.slug for c in tree.ancestors(shop_catalog["dresses"].pk)] == ["women", "women-dresses"]
    assert tree.by_slug["women"].product_count == 4
    assert tree.by_slug["women-dresses"].product_count == 3
    assert [n.category.slug for n in tree.roots] == ["men", "women"]


def test_listing_of_a_parent_category_includes_its_childrens_products_by_popularity(shop_catalog):
    listing = product_listing(filters=ProductFilters(), category=shop_catalog["women"])

    assert _slugs(listing.products) == ["red-wrap-dress", "green-shirt-dress", "blue-maxi-dress", "white-top"]
    assert listing.page.paginator.count == 4
    assert [c.slug for c in listing.breadcrumbs] == ["women"]
    assert [n.category.slug for n in listing.subcategories] == ["women-dresses", "women-tops"]


def test_listing_cards_carry_the_stock_over_active_variants(shop_catalog):
    listing = product_listing(filters=ProductFilters(), category=shop_catalog["dresses"])

    assert {p.slug: p.stock_total for p in listing.products} == {
        "red-wrap-dress": 7, "blue-maxi-dress": 10, "green-shirt-dress": 0,
    }


def test_listing_facets_count_each_value_under_the_other_filters(shop_catalog):
    listing = product_listing(filters=ProductFilters(brands=("petal",)), category=shop_catalog["women"])

    facets = listing.facets
    assert _slugs(listing.products) == ["red-wrap-dress", "blue-maxi-dress"]
    assert facets.brands == [FacetValue("Lumen", "Lumen", 2, False), FacetValue("Petal", "Petal", 2, True)]
    assert facets.colours == [FacetValue("Blue", "Blue", 1, False), FacetValue("Red", "Red", 1, False)]
    # Only sizes in stock count: red M is sold out.
    assert facets.sizes == [FacetValue("S", "S", 1, False), FacetValue("M", "M", 1, False),
                            FacetValue("L", "L", 1, False)]
    assert facets.audiences == [FacetValue("women", "Women", 2, False)]
    assert (facets.price_min, facets.price_max) == (Decimal("1500.00"), Decimal("2500.00"))


def test_listing_filters_by_size_colour_audience_and_price(shop_catalog):
    def slugs(**filters) -> list[str]:
        return _slugs(product_listing(filters=ProductFilters(**filters)).products)

    assert slugs(sizes=("M",)) == ["oxford-shirt", "blue-maxi-dress", "white-top"]
    assert slugs(sizes=("S",)) == ["red-wrap-dress"]  # green's only S is sold out
    assert slugs(colours=("white", "RED")) == ["red-wrap-dress", "linen-shirt", "white-top"]
    assert slugs(audiences=("men",)) == ["oxford-shirt", "linen-shirt"]
    assert slugs(min_price=Decimal("1000"), max_price=Decimal("1800")) == ["oxford-shirt", "red-wrap-dress",
                                                                          "linen-shirt"]


def test_listing_sorts_by_price_newest_and_popularity(shop_catalog):
    def slugs(sort: str) -> list[str]:
        return _slugs(product_listing(filters=ProductFilters(sort=sort), category=shop_catalog["women"]).products)

    assert slugs("price_asc") == ["white-top", "green-shirt-dress", "red-wrap-dress", "blue-maxi-dress"]
    assert slugs("price_desc") == ["blue-maxi-dress", "red-wrap-dress", "green-shirt-dress", "white-top"]
    assert slugs("newest") == ["white-top", "green-shirt-dress", "blue-maxi-dress", "red-wrap-dress"]
    assert slugs("popular") == ["red-wrap-dress", "green-shirt-dress", "blue-maxi-dress", "white-top"]


def test_listing_paginates_and_an_out_of_range_page_gives_the_last(shop_catalog):
    listing = product_listing(filters=ProductFilters(sort="price_asc"), page=99, page_size=4)

    assert (listing.page.number, listing.page.paginator.num_pages) == (2, 2)
    assert _slugs(listing.products) == ["oxford-shirt", "blue-maxi-dress"]


def test_listing_ignores_inactive_products(shop_catalog):
    shop_catalog["products"]["white-top"].__class__.objects.filter(slug="white-top").update(is_active=False)

    listing = product_listing(filters=ProductFilters(), category=shop_catalog["tops"])

    assert listing.products == []
    assert listing.facets.price_min is None


def test_search_ranks_title_hits_above_description_hits(shop_catalog):
    assert _slugs(product_search(query="linen")) == ["linen-shirt", "white-top", "green-shirt-dress"]
    assert _slugs(product_search(query="linen shirt")) == ["linen-shirt", "green-shirt-dress"]
    assert _slugs(product_search(query="dresses")) == ["red-wrap-dress", "green-shirt-dress", "blue-maxi-dress"]
    assert _slugs(product_search(query="petal")) == ["red-wrap-dress", "blue-maxi-dress"]


def test_search_reads_a_price_cap_from_plain_words(shop_catalog):
    listing = product_listing(filters=ProductFilters(q="dress under 1600"))

    assert _slugs(listing.products) == ["red-wrap-dress", "green-shirt-dress"]


def test_parse_query_splits_terms_stems_plurals_and_finds_prices():
    parsed = parse_query("Red cotton KURTAS for women under ₹1500 above 500")

    assert parsed.terms == ("red", "cotton", "kurta", "women")
    assert (parsed.min_price, parsed.max_price) == (Decimal("500"), Decimal("1500"))
    assert parse_query("dresses and glasses").terms == ("dress", "glass")


def test_product_detail_has_active_variants_in_size_order_and_stock_state(shop_catalog):
    Variant.objects.filter(sku="RED-WRAP-DRESS-L").update(is_active=False)

    detail = product_detail(slug="red-wrap-dress")

    assert [v.sku for v in detail.variants] == ["RED-WRAP-DRESS-S", "RED-WRAP-DRESS-M"]
    assert (detail.stock_total, detail.stock_state) == (5, "low")
    assert detail.first_available.sku == "RED-WRAP-DRESS-S"
    assert [c.slug for c in detail.breadcrumbs] == ["women", "women-dresses"]
    assert detail.sizes == ["S", "M"]
    assert product_detail(slug="missing") is None


def test_popular_products_within_a_category_and_overall(shop_catalog):
    assert _slugs(popular_products(limit=2)) == ["oxford-shirt", "red-wrap-dress"]
    assert _slugs(popular_products(category=shop_catalog["men"])) == ["oxford-shirt", "linen-shirt"]


def test_products_by_ids_keeps_the_given_order_and_skips_missing_and_inactive(shop_catalog):
    products = shop_catalog["products"]
    products["white-top"].__class__.objects.filter(slug="white-top").update(is_active=False)
    ids = [products["linen-shirt"].pk, 999_999, products["white-top"].pk, products["red-wrap-dress"].pk]

    assert _slugs(products_by_ids(ids=ids)) == ["linen-shirt", "red-wrap-dress"]
    assert _slugs(products_by_ids(ids=ids, active_only=False)) == ["linen-shirt", "white-top", "red-wrap-dress"]


def test_variant_lookups_by_sku_and_ids(shop_catalog):
    variant = variant_by_sku(sku="OXFORD-SHIRT-M")

    assert variant.product.slug == "oxford-shirt"
    assert variant_by_sku(sku="NOPE") is None
    assert list(variants_by_ids(ids=[variant.pk, 999_999])) == [variant.pk]


def test_search_matches_words_from_their_start_only(make_product):
    make_product(slug="embroidered", title="Blue Embroidered Kurta", description="Hand-embroidered")
    make_product(slug="red", title="Red Kurta", description="Bright.")
    make_product(slug="black-red", title="Black-Red Kurta", description="Two tones.")

    assert _slugs(product_search(query="red kurta")) == ["red", "black-red"]
