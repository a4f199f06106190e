"""REST API for study launches (staff only; session, token or basic authentication): create from a
recipe, launch, follow, cancel, retry. OpenAPI schema at /api/schema/."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from launches import selectors, services
from launches.models import StudyLaunch
from launches.serializers import LaunchCreateSerializer, LaunchSerializer, RefusedSerializer

REFUSED = OpenApiResponse(
    RefusedSerializer, description="The recipe or the request was refused; why, per fault."
)


def refused(exc: services.LaunchRefused) -> Response:
    return Response(
        {"detail": "; ".join(exc.faults), "faults": exc.faults}, status=status.HTTP_400_BAD_REQUEST
    )


class LaunchViewSet(viewsets.ViewSet):
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    serializer_class = LaunchSerializer
    queryset = StudyLaunch.objects.all()  # the schema reads the id's type from it
    lookup_value_regex = "[0-9a-f-]{36}"

    def _launch(self, pk) -> StudyLaunch:
        # DRF's get_object_or_404: an id that is no UUID is a 404 too, not a 500.
        return get_object_or_404(StudyLaunch, pk=pk)

    def _answer(self, launch: StudyLaunch, code: int = status.HTTP_200_OK) -> Response:
        launch.refresh_from_db()
        return Response(LaunchSerializer(selectors.launch_status(launch=launch)).data, status=code)

    @extend_schema(responses=LaunchSerializer(many=True))
    def list(self, request):
        launches = StudyLaunch.objects.all()[:100]
        return Response(
            [LaunchSerializer(selectors.launch_status(launch=launch)).data for launch in launches]
        )

    @extend_schema(responses={200: LaunchSerializer, 404: OpenApiResponse(description="No such launch.")})
    def retrieve(self, request, pk=None):
        return self._answer(self._launch(pk))

    @extend_schema(request=LaunchCreateSerializer, responses={201: LaunchSerializer, 400: REFUSED})
    def create(self, request):
        """Check a recipe and plan it (the plan and its cost come back); with start=true launch it too."""
        incoming = LaunchCreateSerializer(data=request.data)
        if not incoming.is_valid():
            faults = [f"{key}: {' '.join(map(str, errors))}" for key, errors in incoming.errors.items()]
            return refused(services.LaunchRefused(faults))
        try:
            launch = services.launch_create(
                text=incoming.validated_data["recipe"],
                created_by=request.user,
                start=incoming.validated_data["start"],
            )
        except services.LaunchRefused as exc:
            return refused(exc)
        return self._answer(launch, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: LaunchSerializer, 400: REFUSED, 404: OpenApiResponse()})
    @action(detail=True, methods=["post"])
    def launch(self, request, pk=None):
        return self._change(services.launch_start, pk)

    @extend_schema(request=None, responses={200: LaunchSerializer, 400: REFUSED, 404: OpenApiResponse()})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._change(services.launch_cancel, pk)

    @extend_schema(request=None, responses={200: LaunchSerializer, 400: REFUSED, 404: OpenApiResponse()})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        return self._change(services.launch_retry, pk)

    def _change(self, service, pk) -> Response:
        try:
            launch = service(launch=self._launch(pk))
        except services.LaunchRefused as exc:
            return refused(exc)
        return self._answer(launch)
