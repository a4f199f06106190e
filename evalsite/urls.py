from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from evalsite.health import healthz
from evalsite.views import staff_home
from jobs.urls import api_urlpatterns as jobs_api
from launches.urls import api_urlpatterns as launches_api

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", staff_home, name="staff_home"),
    path("admin/", admin.site.urls),
    path("staff/analysis/", include("reports.urls")),
    path("", include("jobs.urls")),
    path("", include("launches.urls")),
    path("api/", include(jobs_api)),
    path("api/", include(launches_api)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", include("ratings.urls")),
]

handler404 = "evalsite.views.not_found"
