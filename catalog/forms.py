"""Validation of listing and search query parameters, shared by the pages (which drop bad values) and the
API (which answers 400 naming them)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from catalog.models import Audience
from catalog.selectors import SORT_CHOICES, ProductFilters


class StringListField(forms.Field):
    """A repeated GET parameter (?brand=A&brand=B) as a list of distinct, non-blank strings."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "too_many": "Choose at most %(limit)s values.",
        "too_long": "Each value must be at most %(limit)s characters.",
        "invalid_choice": "%(value)s is not one of the available choices.",
    }

    def __init__(
        self, *, max_items: int = 30, max_length: int = 120, choices: list[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.max_items, self.max_length, self.choices = max_items, max_length, choices

    def to_python(self, value: Any) -> list[str]:
        if value in self.empty_values:
            return []
        values = value if isinstance(value, (list, tuple)) else [value]
        return list(dict.fromkeys(str(v).strip() for v in values if str(v).strip()))

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        if len(value) > self.max_items:
            raise forms.ValidationError(
                self.error_messages["too_many"], code="too_many", params={"limit": self.max_items}
            )
        if any(len(v) > self.max_length for v in value):
            raise forms.ValidationError(
                self.error_messages["too_long"], code="too_long", params={"limit": self.max_length}
            )
        wrong = [v for v in value if self.choices is not None and v not in self.choices]
        if wrong:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice", params={"value": wrong[0]}
            )


class ProductFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    category = forms.SlugField(required=False, max_length=140)
    brand = StringListField(required=False)
    colour = StringListField(required=False, max_length=40)
    size = StringListField(required=False, max_length=20)
    audience = StringListField(required=False, choices=list(Audience.values))
    min_price = forms.DecimalField(required=False, min_value=Decimal("0"), max_digits=10, decimal_places=2)
    max_price = forms.DecimalField(required=False, min_value=Decimal("0"), max_digits=10, decimal_places=2)
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)
    page_size = forms.IntegerField(required=False, min_value=1, max_value=100)  # the API's; pages ignore it

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        low, high = cleaned.get("min_price"), cleaned.get("max_price")
        if low is not None and high is not None and low > high:
            self.add_error("max_price", "The maximum price must not be below the minimum price.")
        return cleaned

    def filters(self) -> ProductFilters:
        """The valid part of the input as filters; call after is_valid(). Invalid fields are left out."""
        data = getattr(self, "cleaned_data", {})
        return ProductFilters(
            q=data.get("q") or "",
            brands=tuple(data.get("brand") or ()),
            colours=tuple(data.get("colour") or ()),
            sizes=tuple(data.get("size") or ()),
            audiences=tuple(data.get("audience") or ()),
            min_price=data.get("min_price"),
            max_price=data.get("max_price"),
            sort=data.get("sort") or "relevance",
        )

    def first_error(self) -> str:
        """"field: message" for the first problem, for an API error message."""
        name, messages = next(iter(self.errors.items()))
        return f"{name}: {messages[0]}"
