"""The researcher's live dashboard of a study (staff only): coverage, raters, flags, re-opening items."""

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from formats import CRITERIA

from . import selectors, services
from .models import Rater, RaterFlag, Study, Task

REFRESH_SECONDS = 15
INVITES_AT_ONCE = 200


class InviteForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=INVITES_AT_ONCE)


@staff_member_required
@require_http_methods(["GET"])
def dashboard_index(request: HttpRequest) -> HttpResponse:
    return render(request, "ratings/dashboard_index.html", {"studies": Study.objects.order_by("-created_at")})


@staff_member_required
@require_http_methods(["GET"])
def study_dashboard(request: HttpRequest, study_slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=study_slug)
    return render(
        request,
        "ratings/dashboard.html",
        {
            "board": selectors.study_dashboard(study),
            "study": study,
            "refresh_seconds": REFRESH_SECONDS,
            "metric_labels": selectors.METRICS.values(),
            "criteria_labels": CRITERIA.values(),
            "unused_invites": [
                {"pk": rater.pk, "external_id": rater.external_id, "link": _invite_link(request, rater)}
                for rater in selectors.invites_unused(study)
            ],
            "invite_max": INVITES_AT_ONCE,
        },
    )


def _back(study: Study) -> HttpResponse:
    return redirect("ratings:study_dashboard", study_slug=study.slug)


def _invite_link(request: HttpRequest, rater: Rater) -> str:
    return request.build_absolute_uri(reverse("ratings:rater_home", args=[rater.token]))


@staff_member_required
@require_POST
def dashboard_invite(request: HttpRequest, study_slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=study_slug)
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"No invite links made: give a number from 1 to {INVITES_AT_ONCE}.")
        return _back(study)
    made = services.raters_invite(study=study, count=form.cleaned_data["count"])
    messages.info(
        request,
        f"Made {len(made)} invite link{'s' if len(made) != 1 else ''}; they are listed under Invite links.",
    )
    return _back(study)


@staff_member_required
@require_POST
def dashboard_screen(request: HttpRequest, study_slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=study_slug)
    flagged = services.raters_screen(study=study)
    messages.info(request, f"Screening done: {len(flagged)} new exclusion flag(s).")
    return _back(study)


@staff_member_required
@require_POST
def dashboard_flag_lift(request: HttpRequest, study_slug: str, flag_id: int) -> HttpResponse:
    study = get_object_or_404(Study, slug=study_slug)
    flag = get_object_or_404(RaterFlag, pk=flag_id, rater__study=study)
    services.rater_flag_lift(flag=flag, by=request.user.get_username())
    messages.info(
        request, f"Lifted the {flag.get_reason_display().lower()} flag of {flag.rater.external_id}."
    )
    return _back(study)


@staff_member_required
@require_POST
def dashboard_rater_exclude(request: HttpRequest, study_slug: str, rater_id: int) -> HttpResponse:
    study = get_object_or_404(Study, slug=study_slug)
    rater = get_object_or_404(Rater, pk=rater_id, study=study)
    services.rater_flag(
        rater=rater, reason=RaterFlag.Reason.MANUAL, detail=f"excluded by {request.user.get_username()}"
    )
    messages.info(request, f"Excluded {rater.external_id}; their items went back into the pool.")
    return _back(study)


@staff_member_required
@require_POST
def dashboard_reopen(request: HttpRequest, study_slug: str, kind: str, task_token: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=study_slug)
    task = get_object_or_404(Task, token=task_token, kind=kind, rater__study=study)
    if services.task_reopen(task=task):
        messages.info(request, f"Re-opened an item of {task.rater.external_id}; another rater can take it.")
    else:
        messages.warning(request, "That item was no longer open; nothing changed.")
    return _back(study)
