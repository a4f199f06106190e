"""Every write of study launches: create from a recipe, start, cancel, retry, and the steps' claims,
progress and results. Workers call these too; the Celery tasks are thin wrappers around them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from launches.models import LaunchStatus, LaunchStep, StepStatus, StudyLaunch
from launches.recipe import Recipe, RecipeError, plan_cost, recipe_parse, recipe_plan
from ratings import services as ratings_services
from ratings.models import Study, Variant

LIVE = (LaunchStatus.PLANNED, LaunchStatus.RUNNING)
# A step whose worker has not reported for this long is taken to be dead and is sent again. Progress is
# reported at least every training step or clip, seconds apart; the margin covers a slow first step.
STALE_AFTER = timedelta(minutes=10)
# A launch with nothing running and nothing finished for this long lost its message: sent again.
LOST_AFTER = timedelta(minutes=2)


class LaunchRefused(ValueError):
    """A launch the platform will not make or change; the message says why (one line per fault)."""

    def __init__(self, faults: list[str] | str):
        self.faults = [faults] if isinstance(faults, str) else faults
        super().__init__("; ".join(self.faults))


def runs_dir() -> Path:
    return Path(settings.COUNTERPOINT["RUNS_DIR"])


def recipe_check(*, text: str, base_dir: Path) -> Recipe:
    """The recipe parsed and checked, models looked up in the committed checkpoints and the runs folder."""
    from generation.steps import model_identity  # no torch: reads checkpoint sidecars

    try:
        return recipe_parse(
            text, base_dir=base_dir, model_identity=lambda name: model_identity(name, runs_dir())
        )
    except RecipeError as exc:
        raise LaunchRefused(exc.faults) from None


@transaction.atomic
def launch_create(
    *, text: str, base_dir: Path | None = None, created_by=None, start: bool = False
) -> StudyLaunch:
    """Check a recipe and store its plan; with ``start``, start it in the same transaction, so a launch
    that cannot start leaves nothing behind. The study must be new, or made by an earlier launch of the
    same study (relaunching reuses every step already done). Paths in the recipe are taken from
    ``base_dir`` (the recipe file's folder; the server's working folder for a pasted recipe)."""
    base_dir = (base_dir or Path.cwd()).resolve()
    recipe = recipe_check(text=text, base_dir=base_dir)
    study = Study.objects.filter(slug=recipe.study).first()
    if study is not None and not StudyLaunch.objects.filter(study_slug=recipe.study).exists():
        raise LaunchRefused(
            f"study: {recipe.study!r} exists already and was not made by a launch; choose another slug"
        )
    steps = recipe_plan(recipe)
    try:
        with transaction.atomic():
            launch = StudyLaunch.objects.create(
                study_slug=recipe.study,
                recipe_text=text,
                recipe=recipe.source,
                base_dir=str(base_dir),
                cost=plan_cost(steps),
                created_by=created_by,
            )
    except IntegrityError:
        raise LaunchRefused(
            f"study: {recipe.study!r} has a launch planned or running; cancel it first"
        ) from None
    LaunchStep.objects.bulk_create(
        LaunchStep(
            launch=launch,
            position=i,
            key=s.key,
            kind=s.kind,
            name=s.name,
            params=s.params,
            inputs=list(s.inputs),
            queue=s.queue,
        )
        for i, s in enumerate(steps)
    )
    return launch_start(launch=launch) if start else launch


def _parsed(launch: StudyLaunch) -> Recipe:
    from generation.steps import model_identity

    return recipe_parse(
        launch.recipe, base_dir=Path(launch.base_dir), model_identity=lambda n: model_identity(n, runs_dir())
    )


@transaction.atomic
def launch_start(*, launch: StudyLaunch) -> StudyLaunch:
    """Create the study (closed to raters until the last step) and send the workflow to the workers."""
    from launches.workflow import workflow_send

    if not StudyLaunch.objects.filter(pk=launch.pk, status=LaunchStatus.PLANNED).update(
        status=LaunchStatus.RUNNING, started_at=timezone.now()
    ):
        raise LaunchRefused(f"launch {launch.pk} is {launch.status}; only a planned launch starts")
    recipe = _parsed(launch)
    existed = Study.objects.filter(slug=recipe.study).exists()
    study = ratings_services.study_get_or_create(
        slug=recipe.study, title=recipe.title, raters_per_prompt=recipe.raters_per_item
    )
    study_apply_settings(study=study, recipe=recipe, close=not (existed and study.is_open))
    transaction.on_commit(lambda: workflow_send(launch_id=str(launch.pk)))
    launch.refresh_from_db()
    return launch


def study_apply_settings(*, study: Study, recipe: Recipe, close: bool = True) -> None:
    """The recipe's study settings; a new study stays closed to raters until its launch opens it (a
    relaunch of a study raters already use leaves it open)."""
    s = recipe.settings
    prolific = s.get("prolific", {})
    Study.objects.filter(pk=study.pk).update(
        is_open=study.is_open and not close,
        title=recipe.title,
        raters_per_prompt=recipe.raters_per_item,
        onboarding_required=s.get("onboarding", study.onboarding_required),
        attention_rate=s.get("attention_rate", study.attention_rate),
        attention_failures_allowed=s.get("attention_failures_allowed", study.attention_failures_allowed),
        claim_timeout_minutes=s.get("claim_timeout_minutes", study.claim_timeout_minutes),
        accepts_prolific=bool(prolific) or study.accepts_prolific,
        prolific_study_id=prolific.get("study_id", study.prolific_study_id),
        completion_code=prolific.get("completion_code", study.completion_code),
        completion_url=prolific.get("completion_url", study.completion_url),
    )


@transaction.atomic
def launch_cancel(*, launch: StudyLaunch) -> StudyLaunch:
    """Stop a launch: pending steps never start; a step already running finishes its current work."""
    if not StudyLaunch.objects.filter(pk=launch.pk, status__in=LIVE).update(
        status=LaunchStatus.CANCELLED, finished_at=timezone.now()
    ):
        raise LaunchRefused(
            f"launch {launch.pk} is {launch.status}; only a planned or running launch is cancelled"
        )
    launch.steps.filter(status=StepStatus.PENDING).update(status=StepStatus.CANCELLED)
    launch.refresh_from_db()
    return launch


@transaction.atomic
def launch_retry(*, launch: StudyLaunch) -> StudyLaunch:
    """Run a failed or cancelled launch again: what succeeded stays, the rest is sent again."""
    from launches.workflow import workflow_send

    try:
        with transaction.atomic():
            retried = StudyLaunch.objects.filter(
                pk=launch.pk, status__in=(LaunchStatus.FAILED, LaunchStatus.CANCELLED)
            ).update(status=LaunchStatus.RUNNING, error="", finished_at=None)
    except IntegrityError:
        raise LaunchRefused(f"study {launch.study_slug!r} has another launch planned or running") from None
    if not retried:
        raise LaunchRefused(
            f"launch {launch.pk} is {launch.status}; only a failed or cancelled launch is retried"
        )
    # A step still running (its worker finishing after a cancel) keeps its claim; the rest go again.
    launch.steps.filter(status__in=(StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.PENDING)).update(
        status=StepStatus.PENDING, error="", progress=0.0, note="", task_id=""
    )
    transaction.on_commit(lambda: workflow_send(launch_id=str(launch.pk)))
    launch.refresh_from_db()
    return launch


# --- steps, as workers run them ----------------------------------------------------------------------


def step_claim(*, step_id: int, task_id: str) -> LaunchStep | None:
    """Take a step for this task run, or None: finished, cancelled, its launch not running, its inputs not
    done yet (another copy of the workflow will reach it), or held by another live run. A run redelivered
    after its worker died carries the same task id and takes its step back."""
    step = LaunchStep.objects.select_related("launch").filter(pk=step_id).first()
    if step is None or step.launch.status != LaunchStatus.RUNNING:
        return None
    done = set(
        step.launch.steps.filter(key__in=step.inputs, status=StepStatus.SUCCEEDED).values_list(
            "key", flat=True
        )
    )
    planned = set(step.launch.steps.filter(key__in=step.inputs).values_list("key", flat=True))
    if done != planned:
        return None
    now = timezone.now()
    claimable = Q(status=StepStatus.PENDING) | Q(status=StepStatus.RUNNING, task_id=task_id)
    claimed = LaunchStep.objects.filter(claimable, pk=step_id, launch__status=LaunchStatus.RUNNING).update(
        status=StepStatus.RUNNING,
        task_id=task_id,
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
        error="",
    )
    return LaunchStep.objects.select_related("launch").get(pk=step_id) if claimed else None


def step_progress(*, step: LaunchStep, fraction: float, note: str) -> None:
    """Progress and heartbeat of the run that holds the step (a run whose claim was taken over writes
    nothing): the sweep takes a step whose heartbeat stopped for dead."""
    LaunchStep.objects.filter(pk=step.pk, status=StepStatus.RUNNING, task_id=step.task_id).update(
        progress=min(max(fraction, 0.0), 1.0), note=note[:200], heartbeat_at=timezone.now()
    )


@transaction.atomic
def step_succeed(*, step: LaunchStep, result: dict[str, Any]) -> None:
    held = LaunchStep.objects.filter(pk=step.pk, status=StepStatus.RUNNING, task_id=step.task_id).update(
        status=StepStatus.SUCCEEDED, progress=1.0, note="done", result=result, finished_at=timezone.now()
    )
    if held and step.kind == "open":
        StudyLaunch.objects.filter(pk=step.launch_id, status=LaunchStatus.RUNNING).update(
            status=LaunchStatus.OPEN, finished_at=timezone.now()
        )


@transaction.atomic
def step_fail(*, step: LaunchStep, error: str) -> None:
    """The step and its launch fail, with the step's error; the launch can be retried."""
    if not LaunchStep.objects.filter(pk=step.pk, status=StepStatus.RUNNING, task_id=step.task_id).update(
        status=StepStatus.FAILED, error=error[:5000], finished_at=timezone.now()
    ):
        return  # another run holds the step now: its outcome decides
    StudyLaunch.objects.filter(pk=step.launch_id, status=LaunchStatus.RUNNING).update(
        status=LaunchStatus.FAILED,
        error=f"{step.name}: {error.splitlines()[0] if error else 'failed'}"[:2000],
        finished_at=timezone.now(),
    )


def step_execute(*, step: LaunchStep) -> dict[str, Any]:
    """Do a claimed step's work: model work through generation.steps (torch loads here, on the worker),
    then what it means for the study: clips filed, metrics recorded, comparisons planned, study opened."""
    launch = step.launch
    if step.kind == "plan_diversity":
        return _plan_diversity(launch, step)
    if step.kind == "open":
        with transaction.atomic():  # a launch cancelled meanwhile does not open its study
            running = StudyLaunch.objects.select_for_update().filter(
                pk=launch.pk, status=LaunchStatus.RUNNING
            )
            opened = running.exists() and Study.objects.filter(slug=launch.study_slug).update(is_open=True)
        return {"open": bool(opened)}
    from generation.steps import step_result, step_run

    inputs = [step_result(runs_dir(), key) for key in step.inputs]
    result = step_run(
        step.kind,
        step.key,
        step.params,
        [r for r in inputs if r is not None],
        runs_dir(),
        lambda fraction, note: step_progress(step=step, fraction=fraction, note=note),
    )
    if step.kind == "generate":
        result = {**result, "filed": clips_file(launch=launch, step=step, result=result)}
    if step.kind == "metrics":
        variant_metrics_record(
            launch=launch, variant=step.params["variant"], metrics=result.get("metrics", {})
        )
    return result


VARIANT_KINDS = {
    "distill": Variant.Kind.DISTILLED,
    "diversity": Variant.Kind.DIVERSITY,
    "merge": Variant.Kind.MERGED,
    "import": Variant.Kind.EXTERNAL,
}


def clips_file(*, launch: StudyLaunch, step: LaunchStep, result: dict[str, Any]) -> int:
    """File a generate step's clips in the launch's study, once: a step redelivered after its worker died
    between filing and finishing finds the variant it made and files nothing twice."""
    name = step.params["variant"]
    made = Variant.objects.filter(study__slug=launch.study_slug, name=name, provenance__step=step.key).first()
    if made is not None:
        return made.clips.count()
    spec = next(v for v in launch.recipe["variants"] if v["name"] == name)
    kind = VARIANT_KINDS.get(spec["recipe"])
    if kind is None:  # a base variant: CFG when gamma != 1, a temperature baseline when T != 1
        gamma, temperature = spec.get("gamma", 1.0), spec.get("temperature", 1.0)
        kind = (
            Variant.Kind.CFG
            if gamma != 1
            else Variant.Kind.TEMPERATURE
            if temperature != 1
            else Variant.Kind.BASE
        )
    imported = ratings_services.clips_import(
        study_slug=launch.study_slug,
        manifest=Path(result["files"]["manifest"]),
        variant_kind=kind,
        variant_parameters={k: v for k, v in spec.items() if k != "name"},
        variant_provenance={
            "launch": str(launch.pk),
            "step": step.key,
            "seed_of_prompt": result.get("seed_of_prompt", {}),
        },
    )
    return imported.clips_created


def variant_metrics_record(*, launch: StudyLaunch, variant: str, metrics: dict[str, float]) -> None:
    """The automatic metrics of a variant, kept with it for the staff pages beside the human ratings."""
    with transaction.atomic():
        row = Variant.objects.select_for_update().get(study__slug=launch.study_slug, name=variant)
        row.provenance = {**row.provenance, "metrics": metrics}
        row.save(update_fields=["provenance"])


def _plan_diversity(launch: StudyLaunch, step: LaunchStep) -> dict[str, Any]:
    recipe = _parsed(launch)
    diversity = step.params["diversity"]
    study = Study.objects.get(slug=launch.study_slug)
    planned = ratings_services.diversity_plan(
        study=study,
        variants=[v.name for v in recipe.variants],
        baseline=diversity["baseline"] if isinstance(diversity, dict) else None,
        prompts=recipe.diversity_prompts.count if recipe.diversity_prompts else 1,
        diversity_only=recipe.quality is None,
    )
    return {"prompts": planned.prompts, "pairs": planned.pairs, "comparisons": planned.comparisons_created}


# --- the sweep ----------------------------------------------------------------------------------------


def launch_sweep(*, now=None) -> list[str]:
    """Send again the workflow of every running launch whose step's worker died (its heartbeat stopped)
    or whose message was lost (nothing running, nothing finished for a while); returns their ids.
    Sending twice is safe: each step is claimed once and its output is keyed by what makes it."""
    now = now or timezone.now()
    from launches.workflow import workflow_send

    resent = []
    anything_running = LaunchStep.objects.filter(
        status=StepStatus.RUNNING, heartbeat_at__gte=now - STALE_AFTER, launch__status=LaunchStatus.RUNNING
    ).exists()
    for launch in StudyLaunch.objects.filter(status=LaunchStatus.RUNNING):
        dead = launch.steps.filter(status=StepStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
        # Lost: pending work, no worker busy with any launch, and nothing sent, finished or heard from
        # for a while (a gap between two layers, or a worker child restarting, is not a loss).
        last = launch.steps.aggregate(finished=Max("finished_at"), heard=Max("heartbeat_at"))
        activity = max((t for t in (launch.sent_at, last["finished"], last["heard"]) if t), default=None)
        lost = (
            not anything_running
            and launch.steps.filter(status=StepStatus.PENDING).exists()
            and (activity is None or activity < now - LOST_AFTER)
        )
        if (
            dead.update(
                status=StepStatus.PENDING, task_id="", note="sent again: its worker stopped reporting"
            )
            or lost
        ):
            workflow_send(launch_id=str(launch.pk))
            resent.append(str(launch.pk))
    return resent
