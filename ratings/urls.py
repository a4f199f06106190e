from django.urls import path

from . import views

app_name = "ratings"

urlpatterns = [
    path("r/<str:rater_token>/", views.rater_home, name="rater_home"),
    path("r/<str:rater_token>/next/", views.rater_next, name="rater_next"),
    path("r/<str:rater_token>/quality/<str:assignment_token>/", views.quality_task, name="quality_task"),
    path("r/<str:rater_token>/audio/<str:clip_token>/", views.clip_audio, name="clip_audio"),
    path("r/<str:rater_token>/done/", views.rater_done, name="rater_done"),
]
