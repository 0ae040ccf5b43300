from django.urls import path

from recommender import api

urlpatterns = [
    path("recommendations/", api.RecommendationsApi.as_view(), name="api-recommendations"),
]
