"""Search REST API: results for plain words, and autocomplete. Thin: validate, call a selector, serialize."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.forms import ProductFilterForm
from catalog.selectors import category_by_slug
from catalog.serializers import ProductListItemSerializer
from catalog.search.selectors import MODES, SORTS, autocomplete, search_products
from shop.errors import ApplicationError

MAX_PAGE_SIZE = 100


class SearchParamsSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    page = serializers.IntegerField(required=False, min_value=1, max_value=100_000, default=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=24)
    sort = serializers.ChoiceField(choices=SORTS, required=False, default="relevance")
    mode = serializers.ChoiceField(choices=MODES, required=False, default="hybrid")
    exact = serializers.BooleanField(required=False, default=False, help_text="Do not correct spelling.")


class AutocompleteParamsSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=20, default=8)


class ChipSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    remove_query = serializers.CharField(help_text="The query without the words this filter came from.")


class RelaxationSerializer(serializers.Serializer):
    chip = ChipSerializer()
    count = serializers.IntegerField()


class SuggestionSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["query", "brand", "product"])
    label = serializers.CharField()
    query = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)


def _validated(serializer: serializers.Serializer) -> dict:
    if not serializer.is_valid():
        fields = {name: [str(m) for m in messages] for name, messages in serializer.errors.items()}
        name, messages = next(iter(fields.items()))
        raise ApplicationError("invalid_parameter", f"{name}: {messages[0]}", fields=fields)
    return serializer.validated_data


_FILTER_PARAMETERS = [
    OpenApiParameter("q", OpenApiTypes.STR, description='Plain words, e.g. "red cotton kurta for women under 1500".'),
    OpenApiParameter(
        "mode", OpenApiTypes.STR, enum=list(MODES), description="Ranking: hybrid (default), keyword or semantic."
    ),
    OpenApiParameter("exact", OpenApiTypes.BOOL, description="Search the words as typed, without spelling correction."),
    OpenApiParameter("category", OpenApiTypes.STR, description="Category slug; includes its subcategories."),
    OpenApiParameter("brand", OpenApiTypes.STR, many=True, explode=True),
    OpenApiParameter("colour", OpenApiTypes.STR, many=True, explode=True),
    OpenApiParameter("size", OpenApiTypes.STR, many=True, explode=True),
    OpenApiParameter("audience", OpenApiTypes.STR, many=True, explode=True),
    OpenApiParameter("min_price", OpenApiTypes.DECIMAL),
    OpenApiParameter("max_price", OpenApiTypes.DECIMAL),
    OpenApiParameter("sort", OpenApiTypes.STR, enum=list(SORTS)),
    OpenApiParameter("page", OpenApiTypes.INT),
    OpenApiParameter("page_size", OpenApiTypes.INT),
]


class SearchApi(APIView):
    @extend_schema(
        parameters=_FILTER_PARAMETERS,
        tags=["search"],
        responses=inline_serializer(
            "SearchResponse",
            {
                "query": serializers.CharField(),
                "corrected_query": serializers.CharField(),
                "count": serializers.IntegerField(),
                "page": serializers.IntegerField(),
                "num_pages": serializers.IntegerField(),
                "chips": ChipSerializer(many=True),
                "results": ProductListItemSerializer(many=True),
                "relaxations": RelaxationSerializer(many=True),
                "popular": ProductListItemSerializer(many=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        """Products for plain words, best first, with the filters read from the words as chips. Explicit
        filters (brand, colour, size, audience, price, category) override the words' ones. When nothing
        matches: filters to drop with their counts, and popular products of the category."""
        params = _validated(SearchParamsSerializer(data=request.query_params))
        form = ProductFilterForm(request.query_params)
        if not form.is_valid():
            # q, page and page_size were checked above, with this endpoint's own limits.
            errors = {n: [str(m) for m in ms] for n, ms in form.errors.items() if n not in ("q", "page", "page_size")}
            if errors:
                name, messages = next(iter(errors.items()))
                raise ApplicationError("invalid_parameter", f"{name}: {messages[0]}", fields=errors)
        category = None
        if slug := form.cleaned_data.get("category"):
            category = category_by_slug(slug=slug)
            if category is None:
                message = f"category: no category with slug {slug!r}"
                raise ApplicationError("invalid_parameter", message, fields={"category": ["Unknown category."]})
        found = search_products(
            query=params["q"],
            filters=form.filters(),
            category=category,
            page=params["page"],
            page_size=params["page_size"],
            sort=params["sort"],
            mode=params["mode"],
            correct_spelling=not params["exact"],
        )
        return Response(
            {
                "query": found.query,
                "corrected_query": found.corrected_query,
                "count": found.total,
                "page": found.page.number,
                "num_pages": found.page.paginator.num_pages,
                "chips": ChipSerializer(found.chips, many=True).data,
                "results": ProductListItemSerializer(found.products, many=True).data,
                "relaxations": RelaxationSerializer(found.relaxations, many=True).data,
                "popular": ProductListItemSerializer(found.popular, many=True).data,
            }
        )


class AutocompleteApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("q", OpenApiTypes.STR), OpenApiParameter("limit", OpenApiTypes.INT)],
        tags=["search"],
        responses=inline_serializer(
            "AutocompleteResponse", {"query": serializers.CharField(), "suggestions": SuggestionSerializer(many=True)}
        ),
    )
    def get(self, request: Request) -> Response:
        """Suggestions for what is being typed: word completions, brands and products."""
        params = _validated(AutocompleteParamsSerializer(data=request.query_params))
        suggestions = autocomplete(prefix=params["q"], limit=params["limit"])
        return Response({"query": params["q"], "suggestions": SuggestionSerializer(suggestions, many=True).data})
