"""The rater's pages: reached by a secret invite token (or a Prolific link), never showing what made a clip."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from formats import HEARD_FRACTION

from . import selectors, services
from .forms import ConsentForm, HeadphoneCheckForm
from .headphones import trial_wav
from .http import audio_file_response, over_rate, rater_path
from .kinds import KINDS
from .models import Rater, Study, Task, TaskStatus


def _rater(token: str) -> Rater:
    rater = selectors.rater_by_token(token)
    if rater is None:
        raise Http404("No such rater.")
    return rater


def _screened_out_page(request: HttpRequest, rater: Rater, template: str) -> HttpResponse:
    """A rater kept out by the study's checks, with the study's screened-out code if it has one."""
    code = rater.study.screened_out_code
    context = {
        "rater": rater,
        "study": rater.study,
        "code": code,
        "code_url": rater.study.completion_link(code),
    }
    return render(request, template, context, status=403)


def _excluded_page(request: HttpRequest, rater: Rater) -> HttpResponse:
    return _screened_out_page(request, rater, "ratings/rater_excluded.html")


def _gate(request: HttpRequest, rater: Rater) -> HttpResponse | None:
    """Keep an excluded rater out, and send one who has not finished onboarding to the next step."""
    if rater.excluded:
        return _excluded_page(request, rater)
    step = selectors.rater_onboarding_step(rater)
    if step is not None:
        return _rater_redirect(f"ratings:rater_{step}", rater.token)
    return None


def _rater_redirect(viewname: str, *args: str) -> HttpResponse:
    return HttpResponseRedirect(rater_path(viewname, *args))


def _onward(rater: Rater) -> HttpResponse:
    """After an onboarding step: straight to the step still to take, or to the rater's next item
    (/next/, which claims it), rather than through /next/ to be sent on: a round trip fewer for every
    step of every rater, on the server's busiest minute (a study's launch)."""
    step = selectors.rater_onboarding_step(rater)
    return _rater_redirect(f"ratings:rater_{step}" if step else "ratings:rater_next", rater.token)


def _task_redirect(rater: Rater, task: Task) -> HttpResponse:
    return _rater_redirect("ratings:task", rater.token, task.kind, task.token)


@require_http_methods(["GET"])
def rater_home(request: HttpRequest, rater_token: str) -> HttpResponse:
    rater = _rater(rater_token)
    if rater.excluded:
        return _excluded_page(request, rater)
    tasks, progress = selectors.rater_briefs_and_progress(rater)
    left = max(0, progress.total - progress.done)
    return render(
        request,
        "ratings/rater_home.html",
        {
            "rater": rater,
            "study": rater.study,
            "progress": progress,
            "minutes_left": selectors.study_session(rater.study).minutes_for(left),
            "open_task": selectors.rater_holds_open(tasks),
        },
    )


@require_http_methods(["GET", "POST"])
def rater_next(request: HttpRequest, rater_token: str) -> HttpResponse:
    claim = services.task_claim_by_token(rater_token=rater_token)  # the rater read with the claim's lock
    if claim is None or claim.rater is None:
        raise Http404("No such rater.")
    rater = claim.rater
    if claim.refused == "excluded":
        return _excluded_page(request, rater)
    if claim.refused:  # an onboarding step to take first, as _gate sends the other pages
        return _rater_redirect(f"ratings:rater_{claim.refused}", rater.token)
    if claim.lapsed:  # said once, with the new work (not on every visit to the done page)
        messages.info(request, _expired_message(rater))
    if claim.task is None:
        return _rater_redirect("ratings:rater_done", rater.token)
    return _task_redirect(rater, claim.task)


def _task_audio_prefix(rater: Rater, task: Task) -> str:
    """The path of the task's audio up to its position label: the page adds ``label/`` for each clip
    (one path made for the page rather than one per clip: four on the diversity page)."""
    return rater_path("ratings:task_audio", rater.token, task.token, "A").removesuffix("A/")


def _expired_message(rater: Rater) -> str:
    minutes = rater.study.claim_timeout_minutes
    return (
        f"Your previous item expired, as it was not answered within {minutes} minutes, and went back to the "
        "pool; here is what comes next."
    )


# --- before the first task ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def rater_consent(request: HttpRequest, rater_token: str) -> HttpResponse:
    rater = _rater(rater_token)
    if rater.excluded:
        return _excluded_page(request, rater)
    form = ConsentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        services.rater_consent(rater=rater)
        return _onward(rater)
    return render(
        request,
        "ratings/consent.html",
        {"rater": rater, "study": rater.study, "form": form},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def rater_instructions(request: HttpRequest, rater_token: str) -> HttpResponse:
    rater = _rater(rater_token)
    if rater.consented_at is None and rater.study.onboarding_required:
        return _rater_redirect("ratings:rater_consent", rater.token)
    if request.method == "POST":
        services.rater_instructions_read(rater=rater)
        return _onward(rater)
    return render(
        request,
        "ratings/instructions.html",
        {
            "rater": rater,
            "study": rater.study,
            "kinds": [KINDS[k] for k in selectors.study_task_kinds(rater.study)],
        },
    )


@require_http_methods(["GET", "POST"])
def rater_headphones(request: HttpRequest, rater_token: str) -> HttpResponse:
    rater = _rater(rater_token)
    step = selectors.rater_onboarding_step(rater)
    if step in ("consent", "instructions"):
        return _rater_redirect(f"ratings:rater_{step}", rater.token)
    if rater.headphone_passed is False:
        return _screened_out_page(request, rater, "ratings/headphones_failed.html")
    if rater.headphone_passed:
        return _rater_redirect("ratings:rater_next", rater.token)
    trials = services.headphone_check_start(rater=rater)
    form = HeadphoneCheckForm(request.POST if request.method == "POST" else None, trials=len(trials))
    if request.method == "POST" and form.is_valid():
        if services.headphone_check_submit(rater=rater, answers=form.answers()):
            # The last onboarding step: on to the first item, straight (no step is left to look up).
            return _rater_redirect("ratings:rater_next", rater.token)
        return _rater_redirect("ratings:rater_headphones", rater.token)  # which says so
    return render(
        request,
        "ratings/headphones.html",
        {
            "rater": rater,
            "form": form,
            "trials": [(number, form[f"trial_{number}"]) for number in range(len(trials))],
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "HEAD"])
def headphone_audio(request: HttpRequest, rater_token: str, trial: int) -> HttpResponse:
    rater = _rater(rater_token)
    if rater.excluded:
        return HttpResponseForbidden()
    if not 0 <= trial < len(rater.headphone_trials):
        raise Http404("No such sound.")
    response = HttpResponse(trial_wav(**rater.headphone_trials[trial]), content_type="audio/wav")
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- tasks -------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def task_page(request: HttpRequest, rater_token: str, kind: str, task_token: str) -> HttpResponse:
    """One page skeleton for every kind (ratings/task.html); the kind fills in its block and its form."""
    if request.method == "GET":  # read, and marked first shown where it is an open task to show
        task = services.task_page_open(rater_token=rater_token, task_token=task_token, kind=kind)
    else:
        task = selectors.rater_task(rater_token, task_token)
    rater = _rater(rater_token) if task is None else task.rater
    if (gate := _gate(request, rater)) is not None:
        return gate
    if task is None or task.kind != kind:
        raise Http404("No such item.")
    late = task.status == TaskStatus.EXPIRED and request.method == "POST"
    if task.status != TaskStatus.OPEN and not late:
        # A second submission, the back button, a withdrawn or an expired item: nothing changes, carry on.
        if task.status == TaskStatus.EXPIRED and not selectors.rater_claim_lapsed(rater):
            messages.info(request, _expired_message(rater))  # (else the next page says it)
        return _rater_redirect("ratings:rater_next", rater.token)
    task_kind = KINDS[task.kind]
    form = task_kind.form(task_kind.labels(task), request.POST if request.method == "POST" else None)
    problems: list[str] = []
    if request.method == "POST":
        if not form.is_valid():
            problems = [error for errors in form.errors.values() for error in errors]
        else:
            try:
                services.task_submit(task=task, submission=form.submission())
            except services.RaterExcluded:
                return _excluded_page(request, rater)
            except services.SubmissionRejected as rejected:
                problems = rejected.problems
            else:
                return _rater_redirect("ratings:rater_next", rater.token)
    in_place = set(task_kind.problems_in_place(form)) if problems else set()
    if in_place:
        problems = [
            "One answer is still missing: it is marked where it is."
            if len(in_place) == 1
            else f"{len(in_place)} answers are still missing: each is marked where it is.",
            *[problem for problem in problems if problem not in in_place],
        ]
    tasks, progress = selectors.rater_briefs_and_progress(rater)
    context = {
        "rater": rater,
        "task": task,
        "kind": task_kind,
        "prompt": task.prompt,
        "problems": problems,
        "position": progress.done + 1,
        "progress": progress,
        "heard_fraction": HEARD_FRACTION,
        "audio_prefix": _task_audio_prefix(rater, task),
        "reminder": selectors.rater_reminder_due(rater, task, tasks),
        **task_kind.page_context(form, task_kind.clips_in_order(task)),
    }
    return render(request, "ratings/task.html", context, status=400 if problems else 200)


@require_http_methods(["GET", "HEAD"])
def task_audio(request: HttpRequest, rater_token: str, task_token: str, label: str) -> HttpResponse:
    """The audio at one position of a task, each request's ranges recorded as listening evidence."""
    task = selectors.rater_task_at(rater_token, task_token, label)
    rater = _rater(rater_token) if task is None else task.rater
    if rater.excluded:  # an excluded rater hears nothing more of the study
        return HttpResponseForbidden()
    if task is None:
        raise Http404("No such clip.")
    name, size = services.task_audio_request(
        task=task, label=label, method=request.method or "", range_header=request.headers.get("Range", "")
    )
    return audio_file_response(request, name=name, size=size)


@require_http_methods(["GET"])
def rater_done(request: HttpRequest, rater_token: str) -> HttpResponse:
    rater = _rater(rater_token)
    if (gate := _gate(request, rater)) is not None:
        return gate
    tasks, progress = selectors.rater_briefs_and_progress(rater)
    finished = progress.finished and not selectors.rater_holds_open(tasks)
    if finished and progress.done:
        services.rater_finish(rater=rater)
    study = rater.study
    code = study.completion_code if finished and progress.done else ""
    completion_url = study.completion_link(code)
    return render(
        request,
        "ratings/rater_done.html",
        {"rater": rater, "progress": progress, "completion_code": code, "completion_url": completion_url},
    )


# --- crowd platforms ---------------------------------------------------------------------------------


# The studies this browser entered from Prolific, and as which rater: {study slug: rater id}.
PROLIFIC_SESSION_KEY = "prolific_raters"


@require_http_methods(["GET"])
def prolific_entry(request: HttpRequest, study_slug: str) -> HttpResponse:
    """/p/<study>/?PROLIFIC_PID=…&STUDY_ID=…&SESSION_ID=…: the participant's rater, created, or resumed in
    the browser that created it (or with the same SESSION_ID), then the rater's own link."""
    if over_rate(request, scope="prolific-entry", per_minute=settings.COUNTERPOINT["ENTRIES_PER_MINUTE"]):
        message = "Too many people are starting from your network right now; wait a minute, then open the link again."
        return render(request, "ratings/entry_refused.html", {"message": message}, status=429)
    study = get_object_or_404(Study, slug=study_slug)
    entered = request.session.get(PROLIFIC_SESSION_KEY, {})
    try:
        rater = services.prolific_rater_enter(
            study=study,
            prolific_pid=request.GET.get("PROLIFIC_PID", ""),
            study_id=request.GET.get("STUDY_ID", ""),
            session_id=request.GET.get("SESSION_ID", ""),
            resuming_rater_id=entered.get(study.slug),
        )
    except services.EntryRefused as refused:
        status = 403 if isinstance(refused, services.EntryNotResumable) else 400
        return render(request, "ratings/entry_refused.html", {"message": str(refused)}, status=status)
    request.session[PROLIFIC_SESSION_KEY] = {**entered, study.slug: rater.pk}
    return _rater_redirect("ratings:rater_home", rater.token)
