"""The rater's pages: reached by a secret invite token, never showing what made a clip."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from . import selectors, services
from .forms import QualityRatingForm
from .http import ranged_file_response
from .models import ACR_LABELS, AssignmentStatus, Criterion, QualityAssignment, Rater


def _rater(token: str) -> Rater:
    return get_object_or_404(Rater.objects.select_related("study"), token=token)


@require_http_methods(["GET"])
def rater_home(request: HttpRequest, rater_token: str) -> HttpResponse:
    rater = _rater(rater_token)
    return render(
        request,
        "ratings/rater_home.html",
        {
            "rater": rater,
            "study": rater.study,
            "progress": selectors.rater_progress(rater),
            "open_assignment": selectors.rater_open_quality_assignment(rater),
        },
    )


@require_http_methods(["GET", "POST"])
def rater_next(request: HttpRequest, rater_token: str) -> HttpResponse:
    rater = _rater(rater_token)
    assignment = services.quality_assignment_next(rater=rater)
    if assignment is None:
        return redirect("ratings:rater_done", rater_token=rater.token)
    return redirect("ratings:quality_task", rater_token=rater.token, assignment_token=assignment.token)


@require_http_methods(["GET", "POST"])
def quality_task(request: HttpRequest, rater_token: str, assignment_token: str) -> HttpResponse:
    rater = _rater(rater_token)
    assignment = get_object_or_404(
        QualityAssignment.objects.select_related("prompt"), token=assignment_token, rater=rater
    )
    if assignment.status == AssignmentStatus.SUBMITTED:
        # A second submission, or the back button: nothing changes, carry on with the next item.
        return redirect("ratings:rater_next", rater_token=rater.token)
    labelled = selectors.assignment_clips_in_order(assignment)
    labels = [label for label, _ in labelled]
    problems: list[str] = []
    if request.method == "POST":
        form = QualityRatingForm(request.POST, labels=labels)
        if form.is_valid():
            try:
                services.quality_rating_submit(assignment=assignment, submission=form.submission())
            except services.SubmissionRejected as rejected:
                problems = rejected.problems
            else:
                return redirect("ratings:rater_next", rater_token=rater.token)
        else:
            problems = [error for errors in form.errors.values() for error in errors]
    else:
        form = QualityRatingForm(labels=labels)
    clips = [
        {
            "label": label,
            "clip": clip,
            "scales": [
                {"criterion": criterion, "field": form[form.score_field(label, criterion)]}
                for criterion in Criterion
            ],
            "plays": form[f"plays_{label}"],
            "seconds": form[f"seconds_{label}"],
            "ended": form[f"ended_{label}"],
        }
        for label, clip in labelled
    ]
    progress = selectors.rater_progress(rater)
    return render(
        request,
        "ratings/quality_task.html",
        {
            "rater": rater,
            "assignment": assignment,
            "prompt": assignment.prompt,
            "clips": clips,
            "problems": problems,
            "position": progress.done + 1,
            "progress": progress,
            "acr_labels": sorted(ACR_LABELS.items(), reverse=True),
        },
        status=400 if problems else 200,
    )


@require_http_methods(["GET", "HEAD"])
def clip_audio(request: HttpRequest, rater_token: str, clip_token: str) -> HttpResponse:
    clip = selectors.rater_clip_by_token(_rater(rater_token), clip_token)
    if clip is None:
        raise Http404("No such clip.")
    return ranged_file_response(request, clip.audio.path)


@require_http_methods(["GET"])
def rater_done(request: HttpRequest, rater_token: str) -> HttpResponse:
    rater = _rater(rater_token)
    return render(
        request, "ratings/rater_done.html", {"rater": rater, "progress": selectors.rater_progress(rater)}
    )
