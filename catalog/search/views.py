"""The search results page. Thin: read the query string, call the selector, record the search, render.
Malformed parameters are dropped rather than answered with an error, as on the catalog's pages."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from catalog.forms import ProductFilterForm
from catalog.models import Audience, ShopperEvent
from catalog.selectors import SORT_CHOICES, ProductFilters, category_by_slug, category_tree
from catalog.services import event_record_deferred
from catalog.search.selectors import SORTS, search_products
from catalog.search.text import MAX_QUERY_CHARS

@dataclass(frozen=True)
class ChipLink:
    label: str
    url: str  # this page without the chip's filter


@dataclass(frozen=True)
class RelaxationLink:
    label: str
    count: int  # products found without the filter
    url: str


def _url(params: QueryDict, **changes: str | None) -> str:
    query = params.copy()
    query.pop("page", None)
    for key, value in changes.items():
        query.pop(key, None)
        if value:
            query[key] = value
    return f"?{query.urlencode()}"


def _without(params: QueryDict, key: str, value: str) -> str:
    query = params.copy()
    query.pop("page", None)
    query.setlist(key, [v for v in query.getlist(key) if v != value])
    return f"?{query.urlencode()}"


def _explicit_chips(params: QueryDict, filters: ProductFilters) -> list[ChipLink]:
    labels = dict(Audience.choices)
    chips = [ChipLink(f"Brand: {b}", _without(params, "brand", b)) for b in filters.brands]
    chips += [ChipLink(f"Colour: {c}", _without(params, "colour", c)) for c in filters.colours]
    chips += [ChipLink(f"Size: {s}", _without(params, "size", s)) for s in filters.sizes]
    chips += [ChipLink(f"For: {labels.get(a, a)}", _without(params, "audience", a)) for a in filters.audiences]
    if filters.min_price is not None:
        chips.append(ChipLink(f"Over ₹{filters.min_price:,.0f}", _url(params, min_price=None)))
    if filters.max_price is not None:
        chips.append(ChipLink(f"Under ₹{filters.max_price:,.0f}", _url(params, max_price=None)))
    return chips


def results(request: HttpRequest) -> HttpResponse:
    # The words are cut rather than rejected when too long: a pasted paragraph still searches.
    query = request.GET.get("q", "")[:MAX_QUERY_CHARS]
    form = ProductFilterForm(request.GET)
    form.is_valid()  # invalid fields are simply left out (the words are read from `query`, not the form)
    explicit = form.filters()
    category = category_by_slug(slug=form.cleaned_data["category"]) if form.cleaned_data.get("category") else None
    sort = request.GET.get("sort", "relevance")
    sort = sort if sort in SORTS else "relevance"
    found = search_products(
        query=query,
        filters=explicit,
        category=category,
        page=form.cleaned_data.get("page") or 1,
        page_size=getattr(settings, "CATALOG_PAGE_SIZE", 24),
        sort=sort,
        correct_spelling=request.GET.get("exact") != "1",
    )
    # Paging or re-sorting the same results is not a new search; the recommender learns from real ones.
    if query.strip() and "page" not in request.GET and sort == "relevance":
        event_record_deferred(
            kind=ShopperEvent.Kind.SEARCH,
            user=request.user,
            session_key=request.session.session_key or "",
            query=query,
        )
    params = request.GET.copy()
    chips = [ChipLink(c.label, _url(params, q=c.remove_query)) for c in found.chips]
    chips += _explicit_chips(params, explicit)
    if category is not None:
        chips.append(ChipLink(f"In: {category.name}", _url(params, category=None)))
    relaxations = [
        RelaxationLink(
            "all filters" if r.chip.key == "all" else f"“{r.chip.label}”", r.count, _url(params, q=r.chip.remove_query)
        )
        for r in found.relaxations
    ]
    context = {
        "query": query,
        "results": found,
        "chips": chips,
        "relaxations": relaxations,
        "sort_choices": SORT_CHOICES,
        "original_url": _url(params, q=query, exact="1"),
        "nav_categories": [node.category for node in category_tree().roots],
    }
    return render(request, "search/results.html", context)
