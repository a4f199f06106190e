from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.study_list, name="study_list"),
    path("<slug:slug>/", views.report_page, name="report"),
    path("<slug:slug>/summary.json", views.report_summary, name="summary"),
    path("<slug:slug>/export.zip", views.results_export_zip, name="export"),
]
