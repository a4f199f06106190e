from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from generation.web.urls import api_urlpatterns as generation_api

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("staff/analysis/", include("analysis.web.urls")),
    path("", include("generation.web.urls")),
    path("api/", include(generation_api)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", include("ratings.urls")),
]

handler404 = "evalsite.views.not_found"
