from django.urls import path
from rest_framework.routers import DefaultRouter

from . import api, views

app_name = "jobs"

router = DefaultRouter()
router.register("jobs", api.JobViewSet, basename="job")

urlpatterns = [path("staff/jobs/", views.jobs, name="jobs")]
api_urlpatterns = router.urls
