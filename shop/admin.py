"""Admin for orders (status actions through the services, so every change is validated and recorded) and
carts (read-only: they belong to shoppers)."""
from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from shop import services
from shop.errors import ApplicationError
from shop.models import Cart, CartItem, Order, OrderLine, OrderStatusChange


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ["sku", "product_title", "variant_label", "unit_price", "quantity", "line_total"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False


class OrderStatusChangeInline(admin.TabularInline):
    model = OrderStatusChange
    extra = 0
    can_delete = False
    fields = ["created_at", "from_status", "to_status", "actor", "actor_label", "note"]
    readonly_fields = fields
    verbose_name_plural = "status history"

    def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False


def _status_action(
    service: Callable[..., Order], description: str
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet[Order]], None]:
    """An admin action applying `service` to each selected order; refused transitions are reported, not fatal."""

    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        done, refused = 0, []
        for order in queryset:
            try:
                service(order=order, actor=request.user, actor_label="staff")
                done += 1
            except ApplicationError as exc:
                refused.append(f"{order.number}: {exc.message}")
        if done:
            modeladmin.message_user(request, f"{description}: {done} order(s) updated.", messages.SUCCESS)
        for reason in refused:
            modeladmin.message_user(request, reason, messages.WARNING)

    action.__name__ = service.__name__
    return admin.action(description=description, permissions=["change"])(action)


SHIPPING_ADDRESS_FIELDS = [
    "shipping_name",
    "shipping_line1",
    "shipping_line2",
    "shipping_city",
    "shipping_postcode",
    "shipping_country",
    "shipping_phone",
]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "email", "status", "total", "currency", "shipping_method", "created_at"]
    list_filter = ["status", "shipping_method", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["number", "email", "user__username", "shipping_name"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    inlines = [OrderLineInline, OrderStatusChangeInline]
    actions = [
        _status_action(services.order_mark_paid, "Mark as paid"),
        _status_action(services.order_ship, "Mark as shipped"),
        _status_action(services.order_deliver, "Mark as delivered"),
        _status_action(services.order_cancel, "Cancel (restores stock, refunds payment)"),
        _status_action(services.order_refund, "Refund returned orders"),
    ]
    # Status, money and lines are history: they change only through the actions above.
    readonly_fields = [
        "number",
        "user",
        "status",
        "owner_key",
        "idempotency_key",
        "shipping_method",
        "tracking_number",
        "subtotal",
        "shipping_cost",
        "total",
        "currency",
        "payment_reference",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["number", "user", "email", "status", "tracking_number", "created_at", "updated_at"]}),
        ("Money", {"fields": ["subtotal", "shipping_cost", "total", "currency", "payment_reference"]}),
        ("Shipping address", {"fields": [*SHIPPING_ADDRESS_FIELDS, "shipping_method"]}),
        ("Idempotency", {"classes": ["collapse"], "fields": ["owner_key", "idempotency_key"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders are placed at checkout

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False  # cancel instead: deleting would lose the stock and the history

    def get_readonly_fields(self, request: HttpRequest, obj: Order | None = None) -> list[str]:
        if obj is not None and obj.status not in services.ADDRESS_CHANGEABLE_STATUSES:
            return [*self.readonly_fields, "email", *SHIPPING_ADDRESS_FIELDS]
        return [*self.readonly_fields, "email"]

    def save_model(self, request: HttpRequest, obj: Order, form: ModelForm, change: bool) -> None:
        # Only the address is editable, and only before shipping; it goes through the service, which
        # checks the status under a lock and records the change in the history.
        if not set(form.changed_data) & set(SHIPPING_ADDRESS_FIELDS):
            return
        address = services.ShippingAddress(
            **{name.removeprefix("shipping_"): getattr(obj, name) for name in SHIPPING_ADDRESS_FIELDS}
        )
        try:
            services.order_change_shipping_address(order=obj, address=address, actor=request.user, actor_label="staff")
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)


class CartItemInline(admin.TabularInline):
    model = CartItem
    extra = 0
    fields = ["variant", "quantity", "added_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Cart | None = None) -> bool:
        return False


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "session_key", "updated_at"]
    search_fields = ["user__username", "user__email", "session_key"]
    list_filter = [("updated_at", admin.DateFieldListFilter)]
    list_select_related = ["user"]
    readonly_fields = ["user", "session_key", "created_at", "updated_at"]
    inlines = [CartItemInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
