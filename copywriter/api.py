"""Copy jobs over REST (staff only): POST /api/copy/jobs/ queues one, GET /api/copy/jobs/{id}/ shows its
progress. Generation costs compute, so creating a job has its own throttle scope ("copy") on top of the
daily generation quota the service enforces."""
from __future__ import annotations

from typing import Any

from django.db.models import Q
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from catalog.models import Category
from copywriter import selectors, services
from copywriter.models import CopyJob, CopyKind, Length, Tone
from shop.errors import NotFoundError


class CopyJobInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CopyKind.choices)
    tone = serializers.ChoiceField(choices=Tone.choices, default=Tone.NEUTRAL)
    length = serializers.ChoiceField(choices=Length.choices, default=Length.MEDIUM)
    instructions = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    product_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, min_length=1, max_length=services.MAX_PRODUCTS_PER_JOB
    )
    category = serializers.CharField(required=False, help_text="a category slug or id")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if ("product_ids" in data) == ("category" in data):
            raise serializers.ValidationError({"product_ids": "give either product_ids or a category"})
        if "category" in data:
            value = data["category"]
            lookup = Q(slug=value) | Q(pk=int(value)) if value.isdigit() else Q(slug=value)
            category = Category.objects.filter(lookup).first()
            if category is None:
                raise serializers.ValidationError({"category": "no such category"})
            data["category"] = category
        return data


def job_payload(job: CopyJob) -> dict[str, Any]:
    progress = selectors.job_progress(job=job)
    return {
        "id": job.pk, "kind": job.kind, "tone": job.tone, "length": job.length, "status": job.status,
        "category": job.category.slug if job.category else None, "total": progress.total,
        "progress": {"done": progress.done, "failed": progress.failed, "flagged": progress.flagged,
                     "percent": progress.percent},
        "model_version": job.model_version, "created_at": job.created_at, "finished_at": job.finished_at,
    }


class CopyJobsApi(APIView):
    permission_classes = [IsAdminUser]
    throttle_scope = "copy"

    def get_throttles(self) -> list[BaseThrottle]:
        return [*super().get_throttles(), ScopedRateThrottle()]

    @extend_schema(request=CopyJobInputSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        serializer = CopyJobInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = services.copy_job_create(
            user=request.user, kind=data["kind"], tone=data["tone"], length=data["length"],
            instructions=data["instructions"], product_ids=data.get("product_ids"), category=data.get("category"),
        )
        return Response(job_payload(job), status=status.HTTP_201_CREATED)


class CopyJobDetailApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, job_id: int) -> Response:
        job = CopyJob.objects.select_related("category").filter(pk=job_id).first()
        if job is None:
            raise NotFoundError("not_found", "No such copy job.")
        return Response(job_payload(job))
