"""The site mounted under /mounted/ (tests/ratings/test_rater_paths.py)."""

from django.urls import include, path

urlpatterns = [path("mounted/", include("evalsite.urls"))]
