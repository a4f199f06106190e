"""The staff report pages mounted as evalsite/urls.py is asked to mount them."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("staff/analysis/", include("reports.urls")),
]
