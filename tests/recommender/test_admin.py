"""Admin: the stored lists are listed, and the refresh action recomputes the selected shoppers' lists."""
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from recommender import services
from recommender.models import ShopperRecommendations


@pytest.fixture
def staff_client(client, db):
    admin = get_user_model().objects.create_superuser("reco-admin", "admin@example.com", "pw-123456")
    client.force_login(admin)
    return client


def test_the_changelist_shows_each_shoppers_list(staff_client, shoppers):
    services.recommendations_refresh()
    response = staff_client.get(reverse("admin:recommender_shopperrecommendations_changelist"))
    assert response.status_code == 200
    assert b"cooccurrence" in response.content


def test_the_refresh_action_recomputes_the_selected_shoppers(staff_client, shoppers):
    services.recommendations_refresh(user_ids=[shoppers[0].pk])
    ShopperRecommendations.objects.filter(user=shoppers[0]).update(items=[])
    row = ShopperRecommendations.objects.get(user=shoppers[0])
    response = staff_client.post(
        reverse("admin:recommender_shopperrecommendations_changelist"),
        {"action": "refresh_selected", "_selected_action": [row.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert ShopperRecommendations.objects.get(user=shoppers[0]).items  # refreshed in-process (eager Celery)
