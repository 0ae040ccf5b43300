"""The project's URL map: storefront pages, the admin, the REST API and health checks."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shop import health

api_patterns = [
    path("", include("catalog.api_urls")),
    path("", include("shop.api_urls")),
    path("", include("catalog.search.api_urls")),
    path("", include("recommender.api_urls")),
    path("", include("chatbot.api_urls")),
    path("", include("copywriter.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("shop.page_urls")),
    path("", include("catalog.urls")),
    path("", include("catalog.search.urls")),
    path("help/", include("chatbot.urls")),
]

handler400 = "shop.error_views.bad_request"
handler403 = "shop.error_views.permission_denied"
handler404 = "shop.error_views.page_not_found"
handler500 = "shop.error_views.server_error"
