"""Storefront pages: home, category listing, product, search. Thin: parse the query string, call selectors,
record the shopper event, render. Malformed parameters are dropped rather than answered with an error."""
from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from catalog import selectors
from catalog.forms import ProductFilterForm
from catalog.models import Category, ShopperEvent
from catalog.selectors import ProductListing
from catalog.services import event_record


def _page_size() -> int:
    return getattr(settings, "CATALOG_PAGE_SIZE", 24)


def _filter_form(request: HttpRequest) -> ProductFilterForm:
    form = ProductFilterForm(request.GET)
    form.is_valid()  # invalid fields are simply left out of the filters
    return form


def _listing(form: ProductFilterForm, *, category: Category | None) -> ProductListing:
    return selectors.product_listing(
        filters=form.filters(),
        category=category,
        page=form.cleaned_data.get("page") or 1,
        page_size=_page_size(),
    )


def _sort_choices(listing: ProductListing) -> list[tuple[str, str]]:
    # Without words to rank by, "relevance" is the popular order, so it is not offered as a separate choice.
    return selectors.SORT_CHOICES if listing.filters.q else selectors.SORT_CHOICES[1:]


def _session_key(request: HttpRequest) -> str:
    # Events use the session the shopper already has; a page view never creates one just to be recorded.
    return request.session.session_key or ""


def home(request: HttpRequest) -> HttpResponse:
    tree = selectors.category_tree(with_counts=True)
    context = {
        "categories": [node for node in tree.roots if node.product_count],
        "popular": selectors.popular_products(limit=getattr(settings, "CATALOG_HOME_POPULAR", 12)),
        "nav_categories": [node.category for node in tree.roots],
    }
    return render(request, "catalog/home.html", context)


def category(request: HttpRequest, slug: str) -> HttpResponse:
    found = selectors.category_by_slug(slug=slug)
    if found is None:
        raise Http404("No such category")
    listing = _listing(_filter_form(request), category=found)
    context = {
        "listing": listing,
        "sort_choices": _sort_choices(listing),
        "nav_categories": listing.top_categories,
        "current_category_slug": listing.breadcrumbs[0].slug,
    }
    return render(request, "catalog/category.html", context)


def product(request: HttpRequest, slug: str) -> HttpResponse:
    detail = selectors.product_detail(slug=slug)
    if detail is None:
        raise Http404("No such product")
    event_record(
        kind=ShopperEvent.Kind.VIEW, user=request.user, session_key=_session_key(request), product=detail.product
    )
    context = {
        "detail": detail,
        "product": detail.product,
        "nav_categories": detail.top_categories,
        "current_category_slug": detail.breadcrumbs[0].slug if detail.breadcrumbs else "",
        "max_quantity": min(getattr(settings, "CATALOG_MAX_LINE_QUANTITY", 10), max(detail.stock_total, 1)),
    }
    return render(request, "catalog/product.html", context)


def search(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request)
    query = form.filters().q
    if not query:
        context = {
            "query": "",
            "nav_categories": [node.category for node in selectors.category_tree().roots],
            "suggestions": selectors.popular_products(limit=8),
        }
        return render(request, "catalog/search.html", context)
    listing = _listing(form, category=None)
    # Asking for a further page of the same results is not a new search.
    if (form.cleaned_data.get("page") or 1) == 1:
        event_record(kind=ShopperEvent.Kind.SEARCH, user=request.user, session_key=_session_key(request), query=query)
    context = {
        "listing": listing,
        "sort_choices": _sort_choices(listing),
        "query": query,
        "nav_categories": listing.top_categories,
        "suggestions": [] if listing.products else selectors.popular_products(limit=8),
    }
    return render(request, "catalog/search.html", context)
