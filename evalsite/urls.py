from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from jobs.urls import api_urlpatterns as jobs_api

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("staff/analysis/", include("reports.urls")),
    path("", include("jobs.urls")),
    path("api/", include(jobs_api)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", include("ratings.urls")),
]

handler404 = "evalsite.views.not_found"
