from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from generation.web.urls import api_urlpatterns as generation_api
from launches.urls import api_urlpatterns as launches_api

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("staff/analysis/", include("analysis.web.urls")),
    path("", include("generation.web.urls")),
    path("api/", include(generation_api)),
    path("api/", include(launches_api)),
    path("", include("launches.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", include("ratings.urls")),
]
