"""Storefront pages for the cart, checkout, orders and accounts. Thin: a form, one service or selector,
a template; service errors become messages or inline form errors."""
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from shop import selectors, services
from shop.errors import ApplicationError, NotFoundError
from shop.forms import CartAddForm, CartUpdateForm, CheckoutForm, SignupForm
from shop.models import Cart, Order, OrderStatus
from shop.shipping import DEFAULT_SHIPPING_METHOD, SHIPPING_METHODS, free_shipping_threshold, shipping_options

ORDERS_PER_PAGE = 20
# Which checkout field a payment error belongs to; anything else is shown above the form.
FIELD_OF_ERROR = {
    "card_declined": "card_number",
    "invalid_card": "card_number",
    "invalid_shipping_method": "shipping_method",
}


def _safe_next(request: HttpRequest, target: str) -> str | None:
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return target if target and safe else None


def _sign_in(request: HttpRequest, user: AbstractBaseUser) -> None:
    # login() gives the session a new key, so the guest cart's key is read before and merged after.
    guest_session_key = request.session.session_key
    auth_login(request, user)
    services.cart_merge(user=user, session_key=guest_session_key)


# ----------------------------------------------------------------------------------------------- cart


def cart_view(request: HttpRequest) -> HttpResponse:
    summary = selectors.cart_summary(cart=selectors.cart_for_owner(owner=selectors.owner_from_request(request)))
    return render(
        request,
        "shop/cart.html",
        {
            "summary": summary,
            "free_shipping_remaining": max(free_shipping_threshold() - summary.subtotal, Decimal("0")),
            "standard_shipping_price": SHIPPING_METHODS[DEFAULT_SHIPPING_METHOD].price,
            "max_quantity": services.max_line_quantity(),
        },
    )


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    form = CartAddForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{name}: {errors[0]}" for name, errors in form.errors.items()))
        return redirect(_safe_next(request, request.POST.get("next", "")) or "shop:cart")
    back = _safe_next(request, form.cleaned_data["next"])
    cart = services.cart_get_or_create(owner=selectors.owner_from_request(request, create_session=True))
    try:
        item = services.cart_add_item(cart=cart, sku=form.cleaned_data["sku"], quantity=form.cleaned_data["quantity"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back or "shop:cart")
    messages.success(request, f"Added {item.variant.product.title} to your cart.")
    return redirect(back or item.variant.product.get_absolute_url())


def _request_cart(request: HttpRequest) -> Cart | None:
    return selectors.cart_for_owner(owner=selectors.owner_from_request(request))


@require_POST
def cart_update(request: HttpRequest, item_id: int) -> HttpResponse:
    form = CartUpdateForm(request.POST)
    cart = _request_cart(request)
    if cart is None:
        messages.error(request, "Your cart is empty.")
        return redirect("shop:cart")
    if not form.is_valid():
        messages.error(request, f"Quantity: {form.errors['quantity'][0]}")
        return redirect("shop:cart")
    try:
        if form.cleaned_data["quantity"] == 0:
            services.cart_remove_item(cart=cart, item_id=item_id)
            messages.success(request, "Item removed from your cart.")
        else:
            services.cart_update_item(cart=cart, item_id=item_id, quantity=form.cleaned_data["quantity"])
            messages.success(request, "Cart updated.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("shop:cart")


@require_POST
def cart_remove(request: HttpRequest, item_id: int) -> HttpResponse:
    cart = _request_cart(request)
    try:
        if cart is None:
            raise ApplicationError("cart_item_not_found", "That item is no longer in your cart.", status=404)
        services.cart_remove_item(cart=cart, item_id=item_id)
        messages.success(request, "Item removed from your cart.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("shop:cart")


# ------------------------------------------------------------------------------------------- checkout


def checkout(request: HttpRequest) -> HttpResponse:
    owner = selectors.owner_from_request(request)
    cart = selectors.cart_for_owner(owner=owner)
    summary = selectors.cart_summary(cart=cart)
    if summary.is_empty:
        messages.info(request, "Your cart is empty: add something before checking out.")
        return redirect("shop:cart")
    user_email = owner.user.email if owner.user is not None else ""
    if request.method != "POST":
        form = CheckoutForm(subtotal=summary.subtotal, user_email=user_email, initial={"cart_version": summary.version})
        return _checkout_page(request, form, summary)
    form = CheckoutForm(request.POST, subtotal=summary.subtotal, user_email=user_email)
    if not form.is_valid():
        return _checkout_page(request, form, summary)
    try:
        order, _created = services.order_place(
            cart=cart,
            email=form.cleaned_data["email"],
            address=form.shipping_address(),
            shipping_method=form.cleaned_data["shipping_method"],
            payment_token=form.cleaned_data["card_number"],
            idempotency_key=form.cleaned_data["idempotency_key"],
            expected_cart_version=form.cleaned_data["cart_version"],
            actor=owner.user,
        )
    except ApplicationError as exc:
        form.add_error(FIELD_OF_ERROR.get(exc.code), exc.message)
        summary = selectors.cart_summary(cart=cart)
        if exc.code == "cart_changed":
            # Show the cart as it is now and let the shopper confirm it with the next submit.
            form.data = form.data.copy()
            form.data["cart_version"] = summary.version
        return _checkout_page(request, form, summary)
    return redirect("shop:order-confirmation", number=order.number)


def _checkout_page(request: HttpRequest, form: CheckoutForm, summary: selectors.CartSummary) -> HttpResponse:
    options = [(option, summary.subtotal + option.cost) for option in shipping_options(subtotal=summary.subtotal)]
    return render(request, "shop/checkout.html", {"form": form, "summary": summary, "shipping_totals": options})


# --------------------------------------------------------------------------------------------- orders


def _owned_order(request: HttpRequest, number: str) -> Order:
    try:
        return selectors.order_get_for_owner(number=number, owner=selectors.owner_from_request(request))
    except NotFoundError as exc:
        raise Http404(exc.message) from exc


def order_confirmation(request: HttpRequest, number: str) -> HttpResponse:
    order = _owned_order(request, number)
    return render(request, "shop/order_confirmation.html", {"order": order})


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    orders = selectors.order_list_for_user(user=request.user)
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "shop/order_list.html", {"page": page, "orders": page.object_list})


def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order = _owned_order(request, number)
    can_cancel = services.order_can_transition(order=order, to_status=OrderStatus.CANCELLED)
    return render(request, "shop/order_detail.html", {"order": order, "can_cancel": can_cancel})


@login_required
def order_invoice(request: HttpRequest, number: str) -> HttpResponse:
    """The printable invoice of one of the signed-in shopper's orders (staff may open any); 404 otherwise."""
    try:
        order = selectors.order_get_for_invoice(number=number, user=request.user)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc
    return render(request, "shop/invoice.html", {"order": order, "paid_at": selectors.order_paid_at(order=order)})


@require_POST
def order_cancel(request: HttpRequest, number: str) -> HttpResponse:
    order = _owned_order(request, number)
    try:
        services.order_cancel(
            order=order,
            actor=selectors.owner_from_request(request).user,
            actor_label="shopper",
            reason="cancelled by the shopper",
        )
        messages.success(request, f"Order {order.number} is cancelled. Any payment will be refunded.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("shop:order-detail", number=order.number)


# ------------------------------------------------------------------------------------------- accounts


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("shop:order-list")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.account_sign_up(
            username=form.cleaned_data["username"], email=form.cleaned_data["email"], password=form.cleaned_data["password1"]
        )
        _sign_in(request, user)
        messages.success(request, f"Welcome to Aisle, {user.get_username()}!")
        return redirect(_safe_next(request, request.POST.get("next", "")) or reverse("catalog:home"))
    return render(request, "registration/signup.html", {"form": form, "next": request.GET.get("next", "")})


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        _sign_in(self.request, form.get_user())
        return HttpResponseRedirect(self.get_success_url())
