"""API shapes for carts, checkout and orders. Input serializers check types and presence; business rules
(stock, quantity limits, transitions) are the services' and come back as ApplicationError codes."""
from rest_framework import serializers

from shop.models import Order, OrderLine, OrderStatus, OrderStatusChange
from shop.services import ShippingAddress, order_can_transition
from shop.shipping import SHIPPING_METHODS

# ---------------------------------------------------------------------------------------------- input


class CartItemAddInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(default=1, help_text="Units to add, 1 to 99 per line.")


class CartItemUpdateInput(serializers.Serializer):
    quantity = serializers.IntegerField(help_text="The line's new quantity, 1 to 99; DELETE removes a line.")


class ShippingAddressInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    postcode = serializers.RegexField(r"^[A-Za-z0-9 -]{3,20}$", error_messages={"invalid": "Enter a valid postcode."})
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$", required=False, default="IN", error_messages={"invalid": "Use a two-letter country code."}
    )
    phone = serializers.RegexField(
        r"^[0-9+() -]{0,30}$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": "Enter a valid phone number."},
    )


class CheckoutInput(serializers.Serializer):
    email = serializers.EmailField(required=False, help_text="Required for guests; defaults to the account's email.")
    shipping_address = ShippingAddressInput()
    shipping_method = serializers.ChoiceField(choices=list(SHIPPING_METHODS), default="standard")
    payment_token = serializers.CharField(
        max_length=64, help_text="With the test provider, a test card number: 4242 4242 4242 4242 pays."
    )
    cart_version = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        allow_blank=True,
        help_text="The cart `version` the shopper reviewed; a mismatch answers 409 cart_changed.",
    )

    def to_address(self) -> ShippingAddress:
        data = self.validated_data["shipping_address"]
        return ShippingAddress(
            name=data["name"],
            line1=data["line1"],
            line2=data["line2"],
            city=data["city"],
            postcode=data["postcode"].upper(),
            country=data["country"].upper(),
            phone=data["phone"],
        )


# --------------------------------------------------------------------------------------------- output


class CartLineOutput(serializers.Serializer):
    id = serializers.IntegerField(source="item.id")
    sku = serializers.CharField(source="item.variant.sku")
    product_title = serializers.CharField(source="item.variant.product.title")
    product_slug = serializers.CharField(source="item.variant.product.slug")
    variant_label = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2)
    quantity = serializers.IntegerField(source="item.quantity")
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    is_available = serializers.BooleanField(help_text="False when stock no longer covers the quantity.")

    class Meta:
        ref_name = "CartLine"


class CartOutput(serializers.Serializer):
    items = CartLineOutput(many=True, source="lines")
    item_count = serializers.IntegerField()
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    version = serializers.CharField(help_text="Send it back as `cart_version` at checkout.")


class OrderSummaryOutput(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display")
    item_count = serializers.IntegerField()

    class Meta:
        model = Order
        fields = ["number", "status", "status_label", "total", "currency", "item_count", "created_at"]


class OrderLineOutput(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["sku", "product_title", "product_slug", "variant_label", "unit_price", "quantity", "line_total"]


class OrderStatusChangeOutput(serializers.ModelSerializer):
    # Plain strings in the schema: the order's `status` enum already names these values once.
    from_status = serializers.CharField(help_text="An order status; empty for the order's first entry.")
    to_status = serializers.CharField(help_text="An order status.")

    class Meta:
        model = OrderStatusChange
        fields = ["from_status", "to_status", "actor_label", "note", "created_at"]


class ShippingAddressOutput(serializers.Serializer):
    name = serializers.CharField(source="shipping_name")
    line1 = serializers.CharField(source="shipping_line1")
    line2 = serializers.CharField(source="shipping_line2")
    city = serializers.CharField(source="shipping_city")
    postcode = serializers.CharField(source="shipping_postcode")
    country = serializers.CharField(source="shipping_country")
    phone = serializers.CharField(source="shipping_phone")


class OrderDetailOutput(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display")
    lines = OrderLineOutput(many=True)
    shipping_address = ShippingAddressOutput(source="*")
    status_history = OrderStatusChangeOutput(many=True, source="status_changes")
    can_cancel = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "number",
            "status",
            "status_label",
            "email",
            "lines",
            "subtotal",
            "shipping_method",
            "shipping_cost",
            "total",
            "currency",
            "shipping_address",
            "tracking_number",
            "status_history",
            "can_cancel",
            "created_at",
        ]

    def get_can_cancel(self, order: Order) -> bool:
        return order_can_transition(order=order, to_status=OrderStatus.CANCELLED)


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.JSONField())


class ErrorOutput(serializers.Serializer):
    """The one error shape (shop.errors)."""

    error = ErrorDetail()

