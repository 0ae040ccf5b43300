"""Copy job endpoints under /api/copy/ (DESIGN.md, "REST API")."""
from django.urls import path

from copywriter import api

app_name = "copy-api"

urlpatterns = [
    path("copy/jobs/", api.CopyJobsApi.as_view(), name="job-list"),
    path("copy/jobs/<int:job_id>/", api.CopyJobDetailApi.as_view(), name="job-detail"),
]
