from django.urls import path

from . import staff_views, views

app_name = "ratings"

urlpatterns = [
    path("r/<str:rater_token>/", views.rater_home, name="rater_home"),
    path("r/<str:rater_token>/next/", views.rater_next, name="rater_next"),
    path("r/<str:rater_token>/consent/", views.rater_consent, name="rater_consent"),
    path("r/<str:rater_token>/instructions/", views.rater_instructions, name="rater_instructions"),
    path("r/<str:rater_token>/headphones/", views.rater_headphones, name="rater_headphones"),
    path("r/<str:rater_token>/headphones/<int:trial>/", views.headphone_audio, name="headphone_audio"),
    path("r/<str:rater_token>/audio/<str:task_token>/<str:label>/", views.task_audio, name="task_audio"),
    path("r/<str:rater_token>/done/", views.rater_done, name="rater_done"),
    # /r/<rater>/quality/<task>/, /r/<rater>/diversity/<task>/: after every fixed two-part path above.
    path("r/<str:rater_token>/<str:kind>/<str:task_token>/", views.task_page, name="task"),
    path("p/<slug:study_slug>/", views.prolific_entry, name="prolific_entry"),
    path("dashboard/", staff_views.dashboard_index, name="dashboard_index"),
    path("dashboard/<slug:study_slug>/", staff_views.study_dashboard, name="study_dashboard"),
    path("dashboard/<slug:study_slug>/invite/", staff_views.dashboard_invite, name="dashboard_invite"),
    path("dashboard/<slug:study_slug>/screen/", staff_views.dashboard_screen, name="dashboard_screen"),
    path(
        "dashboard/<slug:study_slug>/flags/<int:flag_id>/lift/",
        staff_views.dashboard_flag_lift,
        name="dashboard_flag_lift",
    ),
    path(
        "dashboard/<slug:study_slug>/raters/<int:rater_id>/exclude/",
        staff_views.dashboard_rater_exclude,
        name="dashboard_rater_exclude",
    ),
    path(
        "dashboard/<slug:study_slug>/reopen/<str:kind>/<str:task_token>/",
        staff_views.dashboard_reopen,
        name="dashboard_reopen",
    ),
]
