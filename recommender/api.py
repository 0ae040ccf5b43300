"""GET /api/recommendations/?context=home|product|cart[&product=slug][&limit=n]. Thin: validate, call the
selector, serialize. Bad parameters answer 400 in the shop's error shape; an unknown product 404."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors as catalog_selectors
from recommender import selectors
from shop.errors import NotFoundError


class RecommendationQuerySerializer(serializers.Serializer):
    context = serializers.ChoiceField(choices=sorted(selectors.CONTEXT_BLOCKS))
    product = serializers.SlugField(required=False, max_length=255)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=selectors.MAX_LIMIT, default=8)

    def validate(self, attrs: dict) -> dict:
        if attrs["context"] == "product" and not attrs.get("product"):
            raise serializers.ValidationError({"product": ["A product slug is required for the product context."]})
        return attrs


class RecommendedItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="product.pk")
    slug = serializers.CharField(source="product.slug")
    title = serializers.CharField(source="product.title")
    brand = serializers.CharField(source="product.brand")
    price = serializers.DecimalField(source="product.price", max_digits=10, decimal_places=2)
    currency = serializers.CharField(source="product.currency")
    url = serializers.CharField(source="product.get_absolute_url")
    reason = serializers.CharField()
    source = serializers.CharField()


class RecommendationBlockSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    items = RecommendedItemSerializer(many=True)


class RecommendationsResponseSerializer(serializers.Serializer):
    context = serializers.CharField()
    blocks = RecommendationBlockSerializer(many=True)


class RecommendationsApi(APIView):
    """Recommendation blocks for a page context, for the request's shopper (signed in or guest session)."""

    @extend_schema(parameters=[RecommendationQuerySerializer], responses=RecommendationsResponseSerializer, tags=["recommendations"])
    def get(self, request: Request) -> Response:
        query = RecommendationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        product = None
        if params["context"] == "product":
            product = catalog_selectors.product_by_slug(slug=params["product"])
            if product is None:
                raise NotFoundError("product_not_found", f"No product with slug {params['product']!r}.")
        blocks = selectors.recommendations_for(
            request=request, context=params["context"], product=product, limit=params["limit"]
        )
        return Response(RecommendationsResponseSerializer({"context": params["context"], "blocks": blocks}).data)
