"""Storefront blocks: the strategy chain and its fallbacks, exclusions, the brand cap, reasons, and the
template tag."""
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.template import Context, Template
from django.test import RequestFactory

from recommender import selectors, services
from recommender.strategies import Candidate, RecommendationStrategy, ShopperContext


def _request(user=None, session_key: str | None = None):
    request = RequestFactory().get("/")
    request.user = user or AnonymousUser()
    request.session = SessionStore(session_key=session_key)
    return request


def _titles(block) -> list[str]:
    return [item.product.title for item in block.items]


def test_a_visitor_without_history_gets_popular_products(store):
    block = selectors.recommendation_block(block="home", context=ShopperContext(), limit=4)
    assert block.title == "Recommended for you"
    assert _titles(block) == ["Run Shoes", "Pan", "Run Socks", "Pot"]
    assert {item.reason for item in block.items} == {"Popular right now"}


def test_without_a_model_history_is_answered_by_co_occurrence(shoppers, store):
    context = ShopperContext(history=(store["run-shoes"].pk,))
    block = selectors.recommendation_block(block="home", context=context, limit=3)
    assert block.items[0].source == "cooccurrence"
    assert block.items[0].product == store["run-socks"]
    assert block.items[0].reason == "Because you viewed Run Shoes"


def test_with_an_active_model_a_guest_session_gets_real_time_recommendations(trained_model, shoppers, store, record_events):
    session = SessionStore()
    session.create()
    record_events([store["pan"], store["pot"]], session_key=session.session_key)
    blocks = selectors.recommendations_for(request=_request(session_key=session.session_key), context="home", limit=4)
    assert blocks[0].items[0].source == "model"
    assert all(item.reason.startswith("Because you viewed") for item in blocks[0].items if item.source == "model")


def test_a_signed_in_shopper_reads_the_stored_list(trained_model, shoppers):
    services.recommendations_refresh(user_ids=[shoppers[0].pk])
    blocks = selectors.recommendations_for(request=_request(user=shoppers[0]), context="home", limit=4)
    assert {item.source for item in blocks[0].items} == {"stored"}


def test_purchases_cart_items_and_the_page_product_are_never_recommended(shoppers, store):
    context = ShopperContext(
        history=(store["run-shoes"].pk, store["run-socks"].pk),
        purchased=frozenset({store["run-cap"].pk}),
        cart=(store["run-shorts"].pk,),
        anchor=store["run-watch"].pk,
    )
    picked = {item.product.pk for item in selectors.recommendation_block(block="also_bought", context=context, limit=8).items}
    assert not picked & {store[key].pk for key in ("run-cap", "run-shorts", "run-watch", "run-vest", "run-gel")}


def test_no_brand_fills_a_row_while_others_are_available(store):
    # Popular order starts Stride (shoes), Cook (pan), Stride, Cook, Cook, Stride...; a row of 3 allows one each.
    block = selectors.recommendation_block(block="home", context=ShopperContext(), limit=3)
    brands = [item.product.brand for item in block.items]
    assert len(set(brands)) == 3


class ExplodingStrategy(RecommendationStrategy):
    name = "exploding"

    def candidates(self, context: ShopperContext, limit: int) -> list[Candidate]:
        raise RuntimeError("model server on fire")


def test_a_failing_strategy_is_logged_and_the_next_one_answers(settings, store, caplog):
    settings.RECOMMENDER_CHAINS = {"home": ["tests.recommender.test_blocks.ExplodingStrategy",
                                            "recommender.strategies.PopularStrategy"]}
    block = selectors.recommendation_block(block="home", context=ShopperContext(), limit=2)
    assert _titles(block) == ["Run Shoes", "Pan"]
    assert "exploding failed" in caplog.text


def test_a_broken_active_model_falls_back_to_co_occurrence(shoppers, store, settings):
    from recommender.serving import TASK, registry

    version_dir = registry().task_dir(TASK) / "broken"
    version_dir.mkdir(parents=True)
    for name in ("config.json", "metrics.json", "README.md"):
        (version_dir / name).write_text("{}")
    (version_dir / "model.safetensors").write_bytes(b"not weights")
    registry().activate(TASK, "broken")
    block = selectors.recommendation_block(block="cart", context=ShopperContext(cart=(store["pan"].pk,)), limit=3)
    assert block.items[0].source == "cooccurrence"
    assert block.items[0].reason == "Often bought with Pan"


def test_similar_items_fall_back_to_the_category_when_no_neighbours_are_stored(store):
    context = ShopperContext(anchor=store["pan"].pk, focus_category_id=store["pan"].category_id)
    block = selectors.recommendation_block(block="similar", context=context, limit=3)
    assert block.title == "Similar items"
    assert {item.product.category_id for item in block.items} == {store["pan"].category_id}
    assert block.items[0].reason == "Popular in Kitchen"


def test_the_product_context_has_also_bought_and_similar_blocks(shoppers, store):
    blocks = selectors.recommendations_for(request=_request(), context="product", product=store["pan"], limit=3)
    assert [b.title for b in blocks] == ["Customers also bought", "Similar items"]


def test_the_cart_context_reads_the_cart_through_the_shop(shoppers, store, make_user):
    from shop import services as shop_services
    from shop.selectors import Owner

    user = make_user()
    cart = shop_services.cart_get_or_create(owner=Owner(user=user))
    shop_services.cart_add_item(cart=cart, sku=store["pan"].variants.first().sku, quantity=1)
    blocks = selectors.recommendations_for(request=_request(user=user), context="cart", limit=3)
    assert blocks[0].title == "Complete your order"
    assert store["pan"] not in [item.product for item in blocks[0].items]
    assert blocks[0].items[0].reason == "Often bought with Pan"


def _render(source: str, **context) -> str:
    return Template("{% load recommendations %}" + source).render(Context(context))


def test_the_tag_renders_each_block_with_cards_and_reasons(shoppers, store):
    html = _render('{% recommendations "product" product=product %}', request=_request(), product=store["pan"])
    assert "Customers also bought" in html and "Similar items" in html
    assert 'class="product-grid"' in html and "Often bought with Pan" in html
    assert store["pot"].get_absolute_url() in html


def test_the_tag_renders_nothing_at_all_when_it_fails(monkeypatch, store):
    def explode(**kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(selectors, "blocks_for", explode)
    assert _render('{% recommendations "home" %}', request=_request()) == ""


def test_the_tag_renders_nothing_for_an_unknown_page_or_without_a_request(store):
    assert _render('{% recommendations "checkout" %}', request=_request()) == ""
    assert _render('{% recommendations "home" %}') == ""


def test_a_guest_home_block_filled_by_its_first_strategy_costs_four_queries(
    shoppers, store, record_events, django_assert_num_queries
):
    session = SessionStore()
    session.create()
    record_events([store["pan"], store["pot"]], session_key=session.session_key)
    request = _request(session_key=session.session_key)
    selectors.recommendations_for(request=request, context="home", limit=2)  # warms the co-occurrence cache
    # Recent events, purchases, then the co-occurrence picks' products and their stock totals; each further
    # strategy reached (when the row is not full yet) adds one or two.
    with django_assert_num_queries(4):
        blocks = selectors.recommendations_for(request=request, context="home", limit=2)
    assert [item.source for item in blocks[0].items] == ["cooccurrence", "cooccurrence"]
