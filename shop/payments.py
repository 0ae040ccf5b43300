"""Payment providers behind one small interface; settings.PAYMENT_PROVIDER names the class to use.

Checkout calls `charge` inside its transaction, after the order row exists (so a duplicate request with the
same Idempotency-Key is stopped by the order's unique constraint before it can charge twice) and before the
commit (so a declined card leaves no order and no reserved stock behind).
"""
import secrets
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from shop.errors import ApplicationError


class PaymentStatus(str, Enum):
    SUCCEEDED = "succeeded"
    # The provider needs more time or a step from the shopper (3-D Secure, a bank transfer): the order stays
    # pending_payment until `order_mark_paid`, and expires if that never comes.
    PENDING = "pending"


@dataclass(frozen=True)
class PaymentResult:
    status: PaymentStatus
    reference: str


class PaymentDeclined(ApplicationError):
    # 402 Payment Required: the request was well formed, the payment itself failed.
    status_code = 402


class PaymentProvider:
    """What checkout and refunds need from a payment provider."""

    name = "base"

    def charge(self, *, amount: Decimal, currency: str, token: str, reference: str) -> PaymentResult:
        """Take `amount` using the shopper's payment `token`; raise PaymentDeclined when it fails."""
        raise NotImplementedError

    def refund(self, *, payment_reference: str, amount: Decimal, currency: str) -> str:
        """Return `amount` of an earlier charge; returns the refund's reference."""
        raise NotImplementedError


def normalize_card_number(token: str) -> str:
    return "".join(ch for ch in token if ch not in " -")


class TestPaymentProvider(PaymentProvider):
    """A built-in provider for development and tests: takes test card numbers in place of tokens."""

    __test__ = False  # not a pytest test class, despite the name
    name = "test"
    SUCCESS_CARD = "4242424242424242"
    DECLINED_CARD = "4000000000000002"
    # Stands for a card whose issuer asks for 3-D Secure: the charge stays pending.
    PENDING_CARD = "4000000000003220"

    def charge(self, *, amount: Decimal, currency: str, token: str, reference: str) -> PaymentResult:
        card = normalize_card_number(token)
        if card == self.SUCCESS_CARD:
            return PaymentResult(PaymentStatus.SUCCEEDED, f"test_ch_{secrets.token_hex(8)}")
        if card == self.PENDING_CARD:
            return PaymentResult(PaymentStatus.PENDING, f"test_ch_{secrets.token_hex(8)}")
        if card == self.DECLINED_CARD:
            raise PaymentDeclined(
                "card_declined", "Your card was declined. Try another card.", fields={"payment_token": ["declined"]}
            )
        raise PaymentDeclined(
            "invalid_card",
            "This card number is not accepted by the test payment provider; use 4242 4242 4242 4242.",
            fields={"payment_token": ["unknown test card"]},
        )

    def refund(self, *, payment_reference: str, amount: Decimal, currency: str) -> str:
        return f"test_re_{secrets.token_hex(8)}"


@lru_cache(maxsize=4)
def _provider_class(dotted_path: str) -> type[PaymentProvider]:
    return import_string(dotted_path)


def payment_provider() -> PaymentProvider:
    """The provider named by settings.PAYMENT_PROVIDER."""
    return _provider_class(settings.PAYMENT_PROVIDER)()
