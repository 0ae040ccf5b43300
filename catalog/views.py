"""Storefront pages: home, category listing, product (searching is the search app's page). Thin: parse the
query string, call selectors, record the shopper event, render. Malformed parameters are dropped rather than
answered with an error.

Each page's main content (everything between the header and the footer but the recommendation slot) is the
same for every shopper who sends the same query string, so it is rendered once and kept through
selectors.catalog_cached() until the catalog (or, for a product page, the product's stock) changes; the
header (cart badge, account links, messages) is rendered per request, except for plain guests (no session,
not signed in), whose whole page is the same for all of them and is cached too (see _respond). The CSRF token
and the product form's CSRF field always go in per request."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from catalog import selectors
from catalog.forms import ProductFilterForm
from catalog.models import Category, Product, ShopperEvent
from catalog.selectors import ProductListing
from catalog.services import event_record_deferred


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


@dataclass(frozen=True)
class _Body:
    """A page's cached main content, with what the rest of the page needs from the catalog: a hit then
    reads nothing else (the whole category tree is large to unpickle on every request in a big catalog)."""

    html: SafeString
    nav_categories: list[Category] = field(default_factory=list)
    category: Category | None = None
    breadcrumbs: list[Category] = field(default_factory=list)
    product_count: int = 0
    product: Product | None = None


def _body_key(page: str, *parts: object, query: QueryDict | None = None) -> str:
    # Listings are keyed by the whole query string, not just the valid filters: the sort form and the
    # pagination links repeat it.
    params = sorted((name, query.getlist(name)) for name in query) if query is not None else []
    digest = hashlib.sha1(repr((parts, _page_size(), params)).encode()).hexdigest()
    return f"page:{page}:{digest}"


def _render_body(request: HttpRequest, template: str, context: dict[str, Any]) -> SafeString:
    return SafeString(render_to_string(template, context, request=request))


# Where a cached product page body takes the request's CSRF field. Text from the catalog is escaped when
# rendered, so only the template itself can put "<!--" in the body.
_CSRF_SLOT = mark_safe("<!-- csrf-field -->")
# Where a page cached whole for guests takes the request's CSRF token: nothing HTML escaping would change.
_CSRF_TOKEN_SLOT = "csrf-token-slot-5b1e0c"


def _is_plain_guest(request: HttpRequest) -> bool:
    """Not signed in and no cookie but the CSRF one: no session (so an empty cart and no history) and no
    messages. Every such guest sees the same page but for the CSRF token."""
    return not request.user.is_authenticated and set(request.COOKIES) <= {settings.CSRF_COOKIE_NAME}


@dataclass(frozen=True)
class _Page:
    """A rendered page, its CSRF token and field still to be filled in (see _response)."""

    html: str
    product_id: int | None = None  # a product page's product, for its view event


def _page(request: HttpRequest, key: str, render_page: Callable[[str | None], _Page | None], *,
          versions: list[str] | None = None) -> _Page | None:
    """The page `render_page(csrf_token)` renders. A plain guest's (most traffic) is cached whole, like the
    bodies, rendered with a placeholder for the token, so it costs one cache read and no template rendering;
    anyone else's is rendered with their own token (None)."""
    if not _is_plain_guest(request):
        return render_page(None)
    # Keyed by the whole query string too: the header shows parts of it (the search box's words).
    query = hashlib.sha1(request.GET.urlencode().encode()).hexdigest()
    return selectors.catalog_cached(
        key=f"guest-page:{key}:{query}", compute=lambda: render_page(_CSRF_TOKEN_SLOT), versions=versions or []
    )


def _render_page(request: HttpRequest, template: str, context: dict[str, Any], csrf_token: str | None) -> str:
    if csrf_token is not None:
        context = {**context, "csrf_token": csrf_token}
    return render_to_string(template, context, request=request)


def _response(request: HttpRequest, page: _Page) -> HttpResponse:
    """The page with the request's own CSRF token in it (and the product form's CSRF field in its slot)."""
    token = get_token(request)
    field_html = f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
    return HttpResponse(page.html.replace(_CSRF_TOKEN_SLOT, token).replace(_CSRF_SLOT, field_html))


def home(request: HttpRequest) -> HttpResponse:
    def body() -> _Body:
        tree = selectors.category_tree(with_counts=True)
        context = {
            "categories": [node for node in tree.roots if node.product_count],
            "popular": selectors.popular_products(limit=getattr(settings, "CATALOG_HOME_POPULAR", 12)),
        }
        html = _render_body(request, "catalog/partials/home_body.html", context)
        return _Body(html, nav_categories=[node.category for node in tree.roots])

    def render_page(csrf_token: str | None) -> _Page:
        cached = selectors.catalog_cached(key=key, compute=body)
        context = {"body": cached, "nav_categories": cached.nav_categories}
        return _Page(_render_page(request, "catalog/home.html", context, csrf_token))

    key = _body_key("home")
    return _response(request, _page(request, key, render_page))


def category(request: HttpRequest, slug: str) -> HttpResponse:
    def body() -> _Body:
        found = selectors.category_by_slug(slug=slug)
        if found is None:
            raise Http404("No such category")  # not cached: an unknown slug costs one cached lookup
        listing = _listing(_filter_form(request), category=found)
        context = {"listing": listing, "sort_choices": _sort_choices(listing)}
        return _Body(
            _render_body(request, "catalog/partials/category_body.html", context),
            nav_categories=listing.top_categories,
            category=found,
            breadcrumbs=listing.breadcrumbs,
            product_count=listing.page.paginator.count,
        )

    def render_page(csrf_token: str | None) -> _Page:
        cached = selectors.catalog_cached(key=key, compute=body)
        context = {
            "body": cached,
            "nav_categories": cached.nav_categories,
            "current_category_slug": cached.breadcrumbs[0].slug,
        }
        return _Page(_render_page(request, "catalog/category.html", context, csrf_token))

    key = _body_key("category", slug, query=request.GET)
    return _response(request, _page(request, key, render_page))


def product(request: HttpRequest, slug: str) -> HttpResponse:
    def body() -> _Body | None:
        detail = selectors.product_detail(slug=slug)
        if detail is None:
            return None
        context = {
            "detail": detail,
            "product": detail.product,
            "max_quantity": min(getattr(settings, "CATALOG_MAX_LINE_QUANTITY", 10), max(detail.stock_total, 1)),
            "csrf_slot": _CSRF_SLOT,
        }
        return _Body(
            _render_body(request, "catalog/partials/product_body.html", context),
            nav_categories=detail.top_categories,
            breadcrumbs=detail.breadcrumbs,
            product=detail.product,
        )

    def render_page(csrf_token: str | None) -> _Page | None:
        # One cache read gives the body and what the rest of the page needs of the product.
        cached = selectors.catalog_cached(key=key, compute=body, versions=versions)
        if cached is None:
            return None  # kept too: an unknown slug asked again costs one cache read
        context = {
            "product": cached.product,
            "body": cached.html,  # its CSRF slot is filled by _response
            "nav_categories": cached.nav_categories,
            "current_category_slug": cached.breadcrumbs[0].slug if cached.breadcrumbs else "",
        }
        return _Page(_render_page(request, "catalog/product.html", context, csrf_token), product_id=cached.product.pk)

    key, versions = _body_key("product", slug), [selectors.product_version_key(slug)]
    page = _page(request, key, render_page, versions=versions)
    if page is None:
        raise Http404("No such product")
    event_record_deferred(
        kind=ShopperEvent.Kind.VIEW, user=request.user, session_key=_session_key(request), product_id=page.product_id
    )
    return _response(request, page)
