from django.urls import path, register_converter

from . import staff_views, views


class TokenConverter:
    """A token or clip label in a rater URL: what secrets.token_urlsafe makes, nothing else. Anything
    else (a NUL, which PostgreSQL cannot even compare) matches no page: a 404, never a 500."""

    regex = "[A-Za-z0-9_-]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TokenConverter, "token")

app_name = "ratings"

urlpatterns = [
    path("r/<token:rater_token>/", views.rater_home, name="rater_home"),
    path("r/<token:rater_token>/next/", views.rater_next, name="rater_next"),
    path("r/<token:rater_token>/consent/", views.rater_consent, name="rater_consent"),
    path("r/<token:rater_token>/instructions/", views.rater_instructions, name="rater_instructions"),
    path("r/<token:rater_token>/headphones/", views.rater_headphones, name="rater_headphones"),
    path("r/<token:rater_token>/headphones/<int:trial>/", views.headphone_audio, name="headphone_audio"),
    path(
        "r/<token:rater_token>/audio/<token:task_token>/<token:label>/", views.task_audio, name="task_audio"
    ),
    path("r/<token:rater_token>/done/", views.rater_done, name="rater_done"),
    # /r/<rater>/quality/<task>/, /r/<rater>/diversity/<task>/: after every fixed two-part path above.
    path("r/<token:rater_token>/<str:kind>/<token:task_token>/", views.task_page, name="task"),
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
        "dashboard/<slug:study_slug>/reopen/<str:kind>/<token:task_token>/",
        staff_views.dashboard_reopen,
        name="dashboard_reopen",
    ),
]
