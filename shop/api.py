"""REST endpoints for the cart, checkout and orders. A shopper is their account when signed in (session or
token), else their session; every lookup is scoped to that owner, so someone else's order answers 404."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop import selectors, services
from shop.errors import ApplicationError
from shop.models import Cart
from shop.serializers import (
    CartItemAddInput,
    CartItemUpdateInput,
    CartOutput,
    CheckoutInput,
    ErrorOutput,
    OrderDetailOutput,
    OrderSummaryOutput,
)

IDEMPOTENCY_KEY_MAX_LENGTH = 100

ERRORS = {
    400: OpenApiResponse(ErrorOutput, description="Invalid input; `error.fields` names the problem."),
    404: OpenApiResponse(ErrorOutput, description="Not found in your cart or orders."),
    409: OpenApiResponse(ErrorOutput, description="Conflicts with the current state (stock, status, cart)."),
}


def _cart_response(request: Request, *, status_code: int = status.HTTP_200_OK) -> Response:
    cart = selectors.cart_for_owner(owner=selectors.owner_from_request(request))
    return Response(CartOutput(selectors.cart_summary(cart=cart)).data, status=status_code)


def _writable_cart(request: Request) -> Cart:
    return services.cart_get_or_create(owner=selectors.owner_from_request(request, create_session=True))


class CartApi(APIView):
    @extend_schema(operation_id="cart_retrieve", responses={200: CartOutput}, tags=["cart"])
    def get(self, request: Request) -> Response:
        return _cart_response(request)


class CartItemsApi(APIView):
    @extend_schema(
        operation_id="cart_items_add",
        request=CartItemAddInput,
        responses={201: CartOutput, **ERRORS},
        tags=["cart"],
        description="Add units of a variant (by SKU) to the cart; they add to a line already there.",
    )
    def post(self, request: Request) -> Response:
        payload = CartItemAddInput(data=request.data)
        payload.is_valid(raise_exception=True)
        services.cart_add_item(cart=_writable_cart(request), **payload.validated_data)
        return _cart_response(request, status_code=status.HTTP_201_CREATED)


def _owned_cart(request: Request) -> Cart:
    cart = selectors.cart_for_owner(owner=selectors.owner_from_request(request))
    if cart is None:
        raise ApplicationError("cart_item_not_found", "Your cart is empty.", status=404)
    return cart


class CartItemApi(APIView):
    @extend_schema(
        operation_id="cart_items_update",
        request=CartItemUpdateInput,
        responses={200: CartOutput, **ERRORS},
        tags=["cart"],
    )
    def patch(self, request: Request, item_id: int) -> Response:
        payload = CartItemUpdateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        services.cart_update_item(cart=_owned_cart(request), item_id=item_id, quantity=payload.validated_data["quantity"])
        return _cart_response(request)

    @extend_schema(operation_id="cart_items_remove", responses={200: CartOutput, 404: ERRORS[404]}, tags=["cart"])
    def delete(self, request: Request, item_id: int) -> Response:
        services.cart_remove_item(cart=_owned_cart(request), item_id=item_id)
        return _cart_response(request)


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
        raise ApplicationError(
            "invalid_idempotency_key",
            f"The Idempotency-Key header must be printable text of at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters.",
            fields={"Idempotency-Key": ["invalid"]},
        )
    return key


class CheckoutApi(APIView):
    @extend_schema(
        operation_id="checkout",
        request=CheckoutInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Retrying with the same key returns the order made the first time (200), not a new one.",
            )
        ],
        responses={
            201: OrderDetailOutput,
            200: OpenApiResponse(OrderDetailOutput, description="Replay: the order this Idempotency-Key already made."),
            402: OpenApiResponse(ErrorOutput, description="The payment was declined."),
            **ERRORS,
        },
        tags=["orders"],
        description="Place an order from the cart: reserves stock, charges the payment, empties the cart.",
    )
    def post(self, request: Request) -> Response:
        idempotency_key = _idempotency_key(request)
        payload = CheckoutInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        owner = selectors.owner_from_request(request)
        email = data.get("email") or (owner.user.email if owner.user is not None else "")
        if not email:
            raise ApplicationError(
                "email_required", "Guests need to give an email address.", fields={"email": ["This field is required."]}
            )
        cart = selectors.cart_for_owner(owner=owner)
        if cart is None:
            raise ApplicationError("cart_empty", "Your cart is empty.")
        order, created = services.order_place(
            cart=cart,
            email=email,
            address=payload.to_address(),
            shipping_method=data["shipping_method"],
            payment_token=data["payment_token"],
            idempotency_key=idempotency_key,
            expected_cart_version=data["cart_version"],
            actor=owner.user,
        )
        order = selectors.order_get_for_owner(number=order.number, owner=owner)
        return Response(OrderDetailOutput(order).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class OrderListApi(GenericAPIView):
    serializer_class = OrderSummaryOutput

    @extend_schema(operation_id="orders_list", responses={200: OrderSummaryOutput(many=True)}, tags=["orders"])
    def get(self, request: Request) -> Response:
        orders = selectors.order_list_for_owner(owner=selectors.owner_from_request(request))
        page = self.paginate_queryset(orders)
        return self.get_paginated_response(OrderSummaryOutput(page, many=True).data)


class OrderDetailApi(APIView):
    @extend_schema(operation_id="orders_retrieve", responses={200: OrderDetailOutput, 404: ERRORS[404]}, tags=["orders"])
    def get(self, request: Request, number: str) -> Response:
        order = selectors.order_get_for_owner(number=number, owner=selectors.owner_from_request(request))
        return Response(OrderDetailOutput(order).data)


class OrderCancelApi(APIView):
    @extend_schema(
        operation_id="orders_cancel",
        request=None,
        responses={200: OrderDetailOutput, 404: ERRORS[404], 409: ERRORS[409]},
        tags=["orders"],
        description="Cancel an order that has not shipped yet; its stock goes back and a payment is refunded.",
    )
    def post(self, request: Request, number: str) -> Response:
        owner = selectors.owner_from_request(request)
        order = selectors.order_get_for_owner(number=number, owner=owner)
        services.order_cancel(order=order, actor=owner.user, actor_label="shopper", reason="cancelled by the shopper")
        return Response(OrderDetailOutput(selectors.order_get_for_owner(number=number, owner=owner)).data)
