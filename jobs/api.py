"""REST API for model jobs (staff only): enqueue, list, follow, retry. OpenAPI schema at /api/schema/."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from . import services
from .models import GenerationJob
from .serializers import JobCreateSerializer, JobSerializer


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = GenerationJob.objects.select_related("study")
    serializer_class = JobSerializer

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer, 200: JobSerializer})
    def create(self, request):
        """Enqueue a job; the same variant enqueued again while active returns its job (200)."""
        incoming = JobCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            job, created = services.job_enqueue(created_by=request.user, **incoming.validated_data)
        except services.JobRefused as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(
            JobSerializer(job).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        try:
            job = services.job_retry(job=self.get_object())
        except services.JobRefused as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(JobSerializer(job).data)
