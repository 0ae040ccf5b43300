"""Fixtures for the chatbot tests: shoppers with orders in every state, the demo FAQ, and API helpers.

Every test runs on the template path (no generation) with an empty MODEL_DIR, so the intent model is the
one trained on the shipped examples: what a fresh machine runs. The few tests that load SmolLM2 are marked
slow and switch generation on themselves.
"""
import itertools
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from chatbot import services
from shop.models import Order, OrderLine, OrderStatus

_sequence = itertools.count(1)
API = "/api/chat/conversations/"


@pytest.fixture(scope="session")
def chat_model_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("chat-models"))


@pytest.fixture(autouse=True)
def chat_settings(settings, chat_model_dir):
    settings.MODEL_DIR = chat_model_dir
    settings.CHATBOT_GENERATION = False
    return settings


@pytest.fixture
def faq(db) -> int:
    return services.faq_entries_seed()


@pytest.fixture
def make_user(db) -> Callable[..., object]:
    def make(username: str | None = None) -> object:
        name = username or f"shopper{next(_sequence)}"
        return get_user_model().objects.create_user(username=name, email=f"{name}@example.com", password="pass-word-123")

    return make


@pytest.fixture
def shopper(make_user):
    return make_user("asha")


@pytest.fixture
def other_shopper(make_user):
    return make_user("ravi")


@pytest.fixture
def make_order(db) -> Callable[..., Order]:
    """An order in a given state, for a user or a guest session; lines are copied titles as at checkout."""

    def make(user=None, *, status: str = OrderStatus.PAID, title: str = "Blue denim jacket", session_key: str = "",
             email: str = "", days_ago: int = 0, tracking: str = "") -> Order:
        n = next(_sequence)
        owner_key = f"user:{user.pk}" if user is not None else f"session:{session_key or f'other{n}'}"
        order = Order.objects.create(
            user=user, email=email or (user.email if user is not None else f"guest{n}@example.com"), status=status,
            owner_key=owner_key, shipping_name="Asha Rao", shipping_line1="12 MG Road", shipping_city="Bengaluru",
            shipping_postcode="560001", shipping_method="standard", tracking_number=tracking,
            subtotal=Decimal("1499.00"), shipping_cost=Decimal("0.00"), total=Decimal("1499.00"),
            payment_reference=f"test_{n}" if status != OrderStatus.PENDING_PAYMENT else "",
        )
        OrderLine.objects.create(order=order, product_title=title, product_slug=f"item-{n}", sku=f"SKU-{n}",
                                 unit_price=Decimal("1499.00"), quantity=1, line_total=Decimal("1499.00"))
        if days_ago:
            Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
            order.refresh_from_db()
        return order

    return make


class Chat:
    """A shopper's side of one conversation through the real API (session or signed-in client)."""

    def __init__(self, client: APIClient):
        self.client = client
        response = client.post(API, {}, format="json")
        assert response.status_code == 201, response.content
        self.id = response.json()["id"]
        self.replies: list[dict] = []

    @property
    def url(self) -> str:
        return f"{API}{self.id}/"

    def say(self, text: str) -> str:
        """Send a message on the template path and return the reply's text ("" while a person has it)."""
        response = self.client.post(f"{self.url}messages/", {"text": text}, format="json")
        assert response.status_code == 201, response.content
        reply = response.json()["reply"]
        self.replies.append(reply)
        return reply["text"] if reply else ""

    @property
    def last(self) -> dict:
        return self.replies[-1]

    def history(self) -> list[dict]:
        return self.client.get(self.url).json()["messages"]

    @property
    def session_key(self) -> str:
        return self.client.cookies["sessionid"].value


@pytest.fixture
def chat_as(db) -> Callable[..., Chat]:
    """chat_as(user) -> a Chat for that signed-in user; chat_as(None) -> a guest's Chat."""

    def start(user=None) -> Chat:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return Chat(client)

    return start
