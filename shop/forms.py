"""Storefront forms for the cart, checkout and sign-up."""
import uuid
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.validators import MaxValueValidator, RegexValidator

from catalog.templatetags.catalog_tags import money
from shop.services import ShippingAddress, max_line_quantity
from shop.shipping import DEFAULT_SHIPPING_METHOD, shipping_options

COUNTRY_CHOICES = [("IN", "India")]


def _limit_quantity(field: forms.IntegerField) -> None:
    limit = max_line_quantity()
    field.validators.append(MaxValueValidator(limit))
    field.widget.attrs["max"] = limit


class CartAddForm(forms.Form):
    sku = forms.CharField(max_length=64)
    quantity = forms.IntegerField(min_value=1, initial=1)
    next = forms.CharField(required=False, max_length=500)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        _limit_quantity(self.fields["quantity"])


class CartUpdateForm(forms.Form):
    # 0 removes the line, the way shoppers expect a quantity box to work.
    quantity = forms.IntegerField(min_value=0)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        _limit_quantity(self.fields["quantity"])


class CheckoutForm(forms.Form):
    email = forms.EmailField(label="Email", help_text="We send the order confirmation here.")
    name = forms.CharField(label="Full name", max_length=120, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    line1 = forms.CharField(label="Address", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "address-line1"}))
    line2 = forms.CharField(
        label="Apartment, suite (optional)",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    city = forms.CharField(label="City", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "address-level2"}))
    postcode = forms.CharField(
        label="PIN code",
        max_length=20,
        validators=[RegexValidator(r"^[A-Za-z0-9 -]{3,20}$", "Enter a valid PIN code.")],
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "inputmode": "numeric"}),
    )
    country = forms.ChoiceField(label="Country", choices=COUNTRY_CHOICES, initial="IN")
    phone = forms.CharField(
        label="Phone (optional)",
        max_length=30,
        required=False,
        validators=[RegexValidator(r"^[0-9+() -]{0,30}$", "Enter a valid phone number.")],
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )
    shipping_method = forms.ChoiceField(label="Delivery", widget=forms.RadioSelect, initial=DEFAULT_SHIPPING_METHOD)
    card_number = forms.CharField(
        label="Card number",
        max_length=30,
        help_text="Test payments: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined.",
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    # What the shopper reviewed, and one key per checkout page so a double submit makes one order.
    cart_version = forms.CharField(widget=forms.HiddenInput, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args: object, subtotal: Decimal, user_email: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["shipping_method"].choices = [
            (option.method.code, f"{option.method.label} ({option.method.delivery_estimate}): "
             + (money(option.cost) if option.cost else "free"))
            for option in shipping_options(subtotal=subtotal)
        ]
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)
        if user_email:
            self.initial.setdefault("email", user_email)

    def shipping_address(self) -> ShippingAddress:
        data = self.cleaned_data
        return ShippingAddress(
            name=data["name"],
            line1=data["line1"],
            line2=data["line2"],
            city=data["city"],
            postcode=data["postcode"].upper(),
            country=data["country"],
            phone=data["phone"],
        )


class SignupForm(UserCreationForm):
    email = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email"}))

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Sign in instead.")
        return email
