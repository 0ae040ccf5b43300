"""The project's URLs plus the copy API, until shop/urls.py includes copywriter.api_urls (the lead removes
this file then)."""
from django.urls import include, path

from shop.urls import urlpatterns as shop_urlpatterns

urlpatterns = [path("api/", include("copywriter.api_urls")), *shop_urlpatterns]
