from django.urls import path

from catalog.search import api

urlpatterns = [
    path("search/", api.SearchApi.as_view(), name="api-search"),
    path("search/autocomplete/", api.AutocompleteApi.as_view(), name="api-search-autocomplete"),
]
