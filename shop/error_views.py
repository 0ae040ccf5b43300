"""Project-wide error handlers; shop/urls.py points handler400/403/404/500 here.

Pages get the storefront's HTML error pages. Anything under /api/ gets the API's one error shape,
{"error": {"code", "message", "fields"}}, so an API client never has to parse HTML, even for a URL that no
API view matched (DRF's own exception handler only covers errors raised inside its views).
"""
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from shop.errors import error_body

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _respond(request: HttpRequest, *, status: int, code: str, message: str) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body(code, message), status=status)
    # With the request, so the page gets the header (cart badge, sign-in state) like any other page; but an
    # error raised before the session/auth middleware ran leaves nothing for the context processors to read.
    middleware_ran = hasattr(request, "session") and hasattr(request, "user")
    body = loader.render_to_string(f"errors/{status}.html", request=request if middleware_ran else None)
    return HttpResponse(body, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _respond(request, status=400, code="bad_request", message="The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _respond(
        request, status=403, code="permission_denied", message="You do not have permission to perform this action."
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    # The exception text is not echoed: in production it can carry URL-resolver internals.
    return _respond(request, status=404, code="not_found", message="Not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("server_error", "An unexpected error occurred."), status=500)
    # No request and no context processors: the database or a context processor may be what failed.
    return HttpResponse(loader.get_template("errors/500.html").render(), status=500)
