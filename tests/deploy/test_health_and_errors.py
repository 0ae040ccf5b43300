"""Probes and error pages: /healthz and /readyz answer JSON; unknown pages get the HTML error page, unknown
API paths the API's JSON error shape; the 500 page renders with no database or request context at all."""
import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from shop import error_views


def test_healthz_answers_200_json(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_answers_200_json_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_unknown_page_renders_the_html_404_inside_the_layout(client):
    response = client.get("/no-such-page/at-all/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "Page not found" in html
    # The shared layout: stylesheet served locally, skip link, labelled search, the chat widget's mount point.
    assert 'href="/static/css/aisle.css"' in html
    assert 'href="#main"' in html
    assert '<label class="sr-only" for="site-search">' in html
    assert '<div id="chat-widget-root" class="chat-slot" data-slot="chat">' in html


@pytest.mark.django_db
def test_unknown_api_path_answers_the_json_error_shape(client):
    response = client.get("/api/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "handler, status, code",
    [(error_views.bad_request, 400, "bad_request"), (error_views.permission_denied, 403, "permission_denied")],
)
def test_client_error_handlers_answer_html_for_pages_and_json_for_api(rf: RequestFactory, handler, status, code):
    signed_in = rf.get("/p/some-product/")
    signed_in.session, signed_in.user = SessionStore(), AnonymousUser()  # as the middleware leaves it
    # The second request failed before any middleware ran (no session, no user): it still gets the page.
    for request in (signed_in, rf.get("/p/some-product/")):
        page = handler(request, Exception("nope"))
        assert page.status_code == status
        assert page["Content-Type"].startswith("text/html")
        assert f'<p class="code">{status}</p>' in page.content.decode()

    api = handler(rf.get("/api/cart/"), Exception("nope"))
    assert api.status_code == status
    assert api["Content-Type"] == "application/json"
    assert b'"code": "%s"' % code.encode() in api.content


def test_server_error_page_needs_no_database_or_context(rf: RequestFactory):
    # No db fixture: pytest-django makes any database access here an error, as a dead database would.
    response = error_views.server_error(rf.get("/c/shoes/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert "{%" not in html and "{#" not in html  # no template syntax leaked into the page


def test_server_error_on_api_path_answers_json(rf: RequestFactory):
    response = error_views.server_error(rf.post("/api/checkout/"))
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert b'"code": "server_error"' in response.content
