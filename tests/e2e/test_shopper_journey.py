"""A shopper's whole journey in a real browser against the live server: sign in, search, open a product,
pick a variant, add it to the cart, check out with the test payment provider, find the order in the history."""
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from catalog.models import Audience, Category, Product, Variant
from shop.models import Order

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PASSWORD = "journey-pass-8431"


@pytest.fixture
def small_catalog(transactional_db) -> dict[str, Variant]:
    """Two products in one category; the trail runner comes in two sizes, one of them out of stock."""
    shoes = Category.objects.create(name="Shoes", slug="shoes")
    runner = Product.objects.create(
        title="Trail Runner Shoe", slug="trail-runner-shoe", brand="Stridewell", category=shoes,
        description="A light trail running shoe.", audience=Audience.UNISEX, colour="blue", price=Decimal("2499.00"),
    )
    loafer = Product.objects.create(
        title="Leather Loafer", slug="leather-loafer", brand="Oakline", category=shoes,
        description="A classic loafer.", audience=Audience.MEN, colour="brown", price=Decimal("3199.00"),
    )
    return {
        "runner_8": Variant.objects.create(product=runner, sku="TRS-BLU-8", size="8", colour="Blue", price=Decimal("2499.00"), stock=5),
        "runner_9": Variant.objects.create(product=runner, sku="TRS-BLU-9", size="9", colour="Blue", price=Decimal("2499.00"), stock=0),
        "loafer_9": Variant.objects.create(product=loafer, sku="LLF-BRN-9", size="9", colour="Brown", price=Decimal("3199.00"), stock=3),
    }


@pytest.fixture
def shopper(transactional_db):
    return get_user_model().objects.create_user(username="asha", email="asha@example.com", password=PASSWORD)


def fill(page: Page, label: str, value: str) -> None:
    """Fill the form control whose label matches `label` (a regex: pages word their labels freely)."""
    page.get_by_label(re.compile(label, re.I)).first.fill(value)


def assert_rendered_cleanly(page: Page) -> None:
    """No template syntax reached the shopper (a multi-line {# #} comment renders as text, for one)."""
    text = page.locator("body").inner_text()
    leaked = [token for token in ("{#", "#}", "{%", "%}", "{{", "}}") if token in text]
    assert not leaked, f"{page.url} shows raw template syntax {leaked}"


def pick_variant(page: Page, size: str) -> None:
    """Pick a size with whichever control the product page offers: radio tiles or a select."""
    radio = page.get_by_role("radio", name=re.compile(rf"\b{size}\b"))
    if radio.count():
        radio.first.check()
        return
    select = page.get_by_label(re.compile(r"size|variant|option", re.I)).first
    select.select_option(label=re.compile(rf"\b{size}\b"))


def test_shopper_searches_buys_a_variant_and_finds_the_order_in_history(page: Page, small_catalog, shopper):
    # Sign in.
    page.goto("/")
    page.get_by_role("link", name="Sign in").click()
    fill(page, r"user ?name|email", shopper.username)
    fill(page, r"^password", PASSWORD)
    page.get_by_role("button", name=re.compile(r"sign in|log in", re.I)).click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert_rendered_cleanly(page)

    # Search from the header and open the product.
    page.get_by_label("Search products").fill("trail runner")
    page.get_by_label("Search products").press("Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q=trail"))
    assert_rendered_cleanly(page)
    page.get_by_role("link", name=re.compile("Trail Runner Shoe")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Trail Runner Shoe"))
    assert_rendered_cleanly(page)

    # Pick size 8 (size 9 is sold out) and add it to the cart.
    pick_variant(page, "8")
    page.get_by_role("button", name=re.compile("add to cart", re.I)).click()
    expect(page.locator("[data-cart-count]")).to_have_text("1")

    # Cart, then checkout with the test provider's card.
    page.get_by_role("link", name=re.compile(r"^Cart")).first.click()
    expect(page.get_by_text("Trail Runner Shoe").first).to_be_visible()
    assert_rendered_cleanly(page)
    page.get_by_role("link", name=re.compile("checkout", re.I)).or_(
        page.get_by_role("button", name=re.compile("checkout", re.I))
    ).first.click()
    assert_rendered_cleanly(page)
    email = page.get_by_label(re.compile(r"^email", re.I)).first
    if not email.input_value():
        email.fill(shopper.email)
    fill(page, r"full name|^name", "Asha Rao")
    fill(page, r"address( line)? ?1|^address|street", "12 MG Road")
    fill(page, r"city|town", "Bengaluru")
    fill(page, r"post ?code|pin ?code|zip", "560001")
    phone = page.get_by_label(re.compile("phone", re.I))
    if phone.count():
        phone.first.fill("+91 98450 00000")
    standard = page.get_by_role("radio", name=re.compile("standard", re.I))
    if standard.count():
        standard.first.check()
    fill(page, r"card", "4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile(r"place order|pay", re.I)).click()

    # Confirmation names the order; stock went down by the one unit bought.
    order = Order.objects.get(user=shopper)
    expect(page.get_by_text(order.number).first).to_be_visible()
    assert_rendered_cleanly(page)
    assert order.lines.get().sku == "TRS-BLU-8"
    small_catalog["runner_8"].refresh_from_db()
    assert small_catalog["runner_8"].stock == 4

    # The order history lists it.
    page.get_by_role("link", name="Orders").first.click()
    expect(page.get_by_role("link", name=re.compile(order.number)).first).to_be_visible()
    assert_rendered_cleanly(page)
