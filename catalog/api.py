"""Catalog REST API: product listing and detail, the category tree. Thin: validate, call a selector, serialize."""
from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors
from catalog.forms import ProductFilterForm
from catalog.models import Audience
from catalog.serializers import CategoryNodeSerializer, ProductDetailSerializer, ProductListItemSerializer
from shop.errors import ApplicationError, NotFoundError


class ProductPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


def _listing_parameters() -> list[OpenApiParameter]:
    many = {"many": True, "explode": True}
    return [
        OpenApiParameter("q", OpenApiTypes.STR, description='Plain words, e.g. "red cotton kurta under 1500".'),
        OpenApiParameter("category", OpenApiTypes.STR, description="Category slug; includes its subcategories."),
        OpenApiParameter("brand", OpenApiTypes.STR, description="Brand; repeat for several.", **many),
        OpenApiParameter("colour", OpenApiTypes.STR, description="Colour; repeat for several.", **many),
        OpenApiParameter("size", OpenApiTypes.STR, description="Variant size; repeat for several.", **many),
        OpenApiParameter("audience", OpenApiTypes.STR, enum=list(Audience.values), **many),
        OpenApiParameter("min_price", OpenApiTypes.DECIMAL),
        OpenApiParameter("max_price", OpenApiTypes.DECIMAL),
        OpenApiParameter("sort", OpenApiTypes.STR, enum=[s for s, _ in selectors.SORT_CHOICES]),
    ]


@extend_schema(parameters=_listing_parameters(), tags=["catalog"])
class ProductListApi(generics.ListAPIView):
    """Active products matching the filters, paginated. Bad parameters answer 400 naming them."""

    serializer_class = ProductListItemSerializer
    pagination_class = ProductPagination
    filter_backends: list = []

    def get_queryset(self) -> QuerySet:  # ordered product ids; list() loads the page
        form = ProductFilterForm(self.request.query_params)
        if not form.is_valid():
            fields = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
            raise ApplicationError("invalid_parameter", form.first_error(), fields=fields)
        category = None
        if slug := form.cleaned_data.get("category"):
            category = selectors.category_by_slug(slug=slug)
            if category is None:
                message = f"category: no category with slug {slug!r}"
                raise ApplicationError("invalid_parameter", message, fields={"category": ["Unknown category."]})
        return selectors.product_ids(filters=form.filters(), category=category)

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        # The queryset holds ordered ids; only the page's products are loaded.
        page = selectors.products_by_ids(ids=self.paginate_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ProductDetailApi(APIView):
    @extend_schema(responses=ProductDetailSerializer, tags=["catalog"])
    def get(self, request: Request, slug: str) -> Response:
        detail = selectors.product_detail(slug=slug)
        if detail is None:
            raise NotFoundError("not_found", f"No product with slug {slug!r}.")
        serializer = ProductDetailSerializer(detail.product, context={"breadcrumbs": detail.breadcrumbs})
        return Response(serializer.data)


class CategoryListApi(APIView):
    @extend_schema(responses=CategoryNodeSerializer(many=True), tags=["catalog"])
    def get(self, request: Request) -> Response:
        """The whole category tree with product counts (each including its subcategories)."""
        tree = selectors.category_tree(with_counts=True)
        return Response(CategoryNodeSerializer(tree.roots, many=True).data)
