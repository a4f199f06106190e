"""A database filled under the schema of two assignment tables migrates into one table of tasks with
every study, rating, judgement, check, flag, rater and job kept: export_results gives the same files."""

import csv
import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from analysis.report import write_report
from formats import DIVERSITY_COLUMNS, RATINGS_COLUMNS

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("ratings", "0004_rater_excluded_study_diversity_part"),
    ("jobs", "0002_rename_from_generation_web"),
]
CRITERIA = ("acoustic_quality", "text_adherence", "musicality")


def _populate(apps) -> None:
    """quality and diversity items, attention items, flags (one active, one lifted), a Prolific rater,
    a rater holding an open item of each kind, and a job, written with the models of that schema."""
    get = apps.get_model
    Study, Variant, Prompt, Clip = (get("ratings", n) for n in ("Study", "Variant", "Prompt", "Clip"))
    Rater, CheckItem, RaterFlag = (get("ratings", n) for n in ("Rater", "CheckItem", "RaterFlag"))
    QualityAssignment, QualityRating = get("ratings", "QualityAssignment"), get("ratings", "QualityRating")
    DiversityComparison = get("ratings", "DiversityComparison")
    DiversityAssignment = get("ratings", "DiversityAssignment")
    start = timezone.now() - timedelta(days=2)

    study = Study.objects.create(slug="old", title="Old study", raters_per_prompt=3, diversity_part=True)
    variants = [Variant.objects.create(study=study, name=name) for name in ("base", "cfg", "merged")]
    prompts = [Prompt.objects.create(study=study, external_id=f"p{i}", text=f"Song {i}") for i in range(4)]
    clips = {}
    for prompt in prompts:
        for variant in variants:
            for sample in (0, 1):
                clips[prompt.pk, variant.pk, sample] = Clip.objects.create(
                    prompt=prompt,
                    variant=variant,
                    sample_index=sample,
                    audio=f"clips/old/{prompt.pk}-{variant.pk}-{sample}.wav",
                    token=f"clip-{prompt.pk}-{variant.pk}-{sample}",
                    duration_s=2.0,
                    sample_rate=16000,
                    checksum="0" * 64,
                )
    raters = [
        Rater.objects.create(study=study, external_id=f"rater-{i}", token=f"rater-{i}") for i in range(4)
    ]
    raters.append(
        Rater.objects.create(
            study=study,
            external_id="5f1e0d",
            token="prolific",
            source="prolific",
            platform_study_id="STUDY",
            platform_session_id="SESSION",
        )
    )
    excluded, lifted, holder = raters[2], raters[3], raters[1]
    moment = iter(start + timedelta(minutes=m) for m in range(1000))

    def submitted(model, **fields):
        created = next(moment)
        item = model.objects.create(status="submitted", **fields)
        model.objects.filter(pk=item.pk).update(
            created_at=created, submitted_at=created + timedelta(seconds=30)
        )
        return model.objects.get(pk=item.pk)

    for r, rater in enumerate(raters):
        for p, prompt in enumerate(prompts[:3] if rater != holder else prompts[:2]):
            order = [clips[prompt.pk, v.pk, 0].pk for v in variants]
            assignment = submitted(
                QualityAssignment, rater=rater, prompt=prompt, clip_order=order, holds_slot=rater != excluded
            )
            for v, variant in enumerate(variants):
                for c, criterion in enumerate(CRITERIA):
                    QualityRating.objects.create(
                        assignment=assignment,
                        clip=clips[prompt.pk, variant.pk, 0],
                        criterion=criterion,
                        score=1 + (r + 2 * p + v * (c + 1)) % 5,
                        created_at=assignment.submitted_at,
                    )
    attention = CheckItem.objects.create(
        study=study,
        kind="quality",
        source="attention",
        prompt=prompts[3],
        clips=[clips[prompts[0].pk, v.pk, 0].pk for v in variants],
        expected={"text_adherence": [1, 2]},
    )
    check = submitted(
        QualityAssignment,
        rater=raters[0],
        prompt=prompts[3],
        clip_order=attention.clips,
        check_item=attention,
        holds_slot=False,
        check_passed=False,
    )
    QualityRating.objects.create(
        assignment=check,
        clip_id=attention.clips[0],
        criterion="text_adherence",
        score=5,
        created_at=next(moment),
    )

    comparisons = [
        DiversityComparison.objects.create(study=study, prompt=prompt, variant_x=x, variant_y=y)
        for prompt in prompts[:3]
        for x, y in ((variants[0], variants[1]), (variants[0], variants[2]))
    ]
    for r, rater in enumerate(raters):
        for c, comparison in enumerate(comparisons[:4]):
            a, b = (
                (comparison.variant_x, comparison.variant_y)
                if (r + c) % 2
                else (comparison.variant_y, comparison.variant_x)
            )
            submitted(
                DiversityAssignment,
                rater=rater,
                comparison=comparison,
                prompt=comparison.prompt,
                variant_a=a,
                variant_b=b,
                clips_a=[clips[comparison.prompt_id, a.pk, s].pk for s in (0, 1)],
                clips_b=[clips[comparison.prompt_id, b.pk, s].pk for s in (0, 1)],
                choice=(r * 3 + c) % 5 - 2,
                holds_slot=rater != excluded,
            )
    twin = clips[prompts[0].pk, variants[0].pk, 0].pk
    diversity_check = CheckItem.objects.create(
        study=study,
        kind="diversity",
        source="attention",
        prompt=prompts[0],
        clips={"A": [twin, twin], "B": [clips[prompts[0].pk, variants[1].pk, s].pk for s in (0, 1)]},
        expected={"choice": [1, 2]},
    )
    submitted(
        DiversityAssignment,
        rater=raters[4],
        prompt=prompts[0],
        variant_a=variants[0],
        variant_b=variants[1],
        clips_a=diversity_check.clips["A"],
        clips_b=diversity_check.clips["B"],
        choice=2,
        check_item=diversity_check,
        holds_slot=False,
        check_passed=True,
    )
    # The holder has an open item of each kind: the new schema allows one.
    QualityAssignment.objects.create(
        rater=holder, prompt=prompts[2], clip_order=[clips[prompts[2].pk, v.pk, 0].pk for v in variants]
    )
    open_comparison = comparisons[5]
    DiversityAssignment.objects.create(
        rater=holder,
        comparison=open_comparison,
        prompt=open_comparison.prompt,
        variant_a=open_comparison.variant_x,
        variant_b=open_comparison.variant_y,
        clips_a=[clips[open_comparison.prompt_id, open_comparison.variant_x_id, s].pk for s in (0, 1)],
        clips_b=[clips[open_comparison.prompt_id, open_comparison.variant_y_id, s].pk for s in (0, 1)],
    )
    for prompt in prompts:
        prompt.quality_slots_taken = QualityAssignment.objects.filter(prompt=prompt, holds_slot=True).count()
        prompt.save()
    for comparison in comparisons:
        comparison.slots_taken = DiversityAssignment.objects.filter(
            comparison=comparison, holds_slot=True
        ).count()
        comparison.save()
    RaterFlag.objects.create(rater=excluded, reason="manual", detail="listened on a phone")
    Rater.objects.filter(pk=excluded.pk).update(excluded=True)
    RaterFlag.objects.create(
        rater=lifted,
        reason="straight_lining",
        detail="scores vary by 0.10",
        active=False,
        lifted_at=start,
        lifted_by="ana",
    )
    get("jobs", "GenerationJob").objects.create(
        kind="pretrain", parameters={"preset": "tiny"}, status="succeeded"
    )


def _export_under_old_schema(apps, out: Path) -> None:
    """What export_results wrote under the old schema: the same rows, order and report inputs."""
    get = apps.get_model
    study = get("ratings", "Study").objects.get(slug="old")
    ratings = (
        get("ratings", "QualityRating")
        .objects.filter(assignment__prompt__study=study, assignment__check_item__isnull=True)
        .select_related("assignment__rater", "assignment__prompt", "clip__variant")
        .order_by(
            "assignment__rater__external_id",
            "assignment__prompt__external_id",
            "clip__variant__name",
            "criterion",
        )
    )
    quality = [
        {
            "rater_id": r.assignment.rater.external_id,
            "prompt_id": r.assignment.prompt.external_id,
            "variant": r.clip.variant.name,
            "criterion": r.criterion,
            "score": r.score,
            "created_at": r.created_at.isoformat(),
        }
        for r in ratings
    ]
    judged = (
        get("ratings", "DiversityAssignment")
        .objects.filter(prompt__study=study, check_item__isnull=True, status="submitted")
        .select_related("rater", "prompt", "variant_a", "variant_b")
        .order_by("rater__external_id", "prompt__external_id", "variant_a__name", "variant_b__name")
    )
    diversity = [
        {
            "rater_id": j.rater.external_id,
            "prompt_id": j.prompt.external_id,
            "variant_a": j.variant_a.name,
            "variant_b": j.variant_b.name,
            "choice": j.choice,
            "created_at": j.submitted_at.isoformat(),
        }
        for j in judged
    ]
    excluded = set(
        get("ratings", "Rater")
        .objects.filter(study=study, flags__active=True)
        .values_list("external_id", flat=True)
    )
    out.mkdir()
    for name, columns, rows in (
        ("ratings.csv", RATINGS_COLUMNS, quality),
        ("diversity.csv", DIVERSITY_COLUMNS, diversity),
    ):
        with (out / name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(row for row in rows if row["rater_id"] not in excluded)
    write_report(
        pd.DataFrame(quality, columns=list(RATINGS_COLUMNS)),
        pd.DataFrame(diversity, columns=list(DIVERSITY_COLUMNS)),
        out,
        excluded_raters=frozenset(excluded),
        include_excluded=False,
        variants=sorted(study.variants.values_list("name", flat=True)),
        seed=0,
        study=study.slug,
    )


def _numbers(summary: dict) -> dict:
    return {key: summary[key] for key in ("quality", "diversity", "agreement")}


def test_migrating_from_two_assignment_tables_keeps_every_rating_judgement_flag_and_job(tmp_path):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps
    _populate(old_apps)
    _export_under_old_schema(old_apps, tmp_path / "before")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    call_command("export_results", "--study", "old", "--out", str(tmp_path / "after"))

    for name in ("ratings.csv", "diversity.csv"):
        before, after = ((tmp_path / side / name).read_text() for side in ("before", "after"))
        assert after == before and after.count("\n") > 10
    before, after = (
        json.loads((tmp_path / side / "summary.json").read_text()) for side in ("before", "after")
    )
    assert _numbers(after) == _numbers(before)
    assert after["quality"]["variants"] and after["diversity"]["pairs"]

    from jobs.models import GenerationJob
    from ratings.models import DiversityComparison, Prompt, QualityRating, Rater, RaterFlag, Task, TaskStatus

    assert GenerationJob.objects.get().parameters == {"preset": "tiny"}
    assert Rater.objects.get(source="prolific").platform_session_id == "SESSION"
    assert set(RaterFlag.objects.values_list("reason", "active")) == {
        ("manual", True),
        ("straight_lining", False),
    }
    assert QualityRating.objects.count() == (4 * 3 + 2) * 3 * 3 + 1
    checks = Task.objects.filter(check_item__isnull=False)
    assert sorted(checks.values_list("kind", "check_passed")) == [("diversity", True), ("quality", False)]
    assert checks.get(kind="diversity").judgement.choice == 2
    # The rater who held an open item of each kind keeps the older one; the newer gave its slot back.
    holder = Rater.objects.get(external_id="rater-1")
    assert list(holder.tasks.filter(status=TaskStatus.OPEN).values_list("kind", flat=True)) == ["quality"]
    assert holder.tasks.get(status=TaskStatus.WITHDRAWN).kind == "diversity"
    for prompt in Prompt.objects.all():
        held = Task.objects.filter(kind="quality", prompt=prompt, holds_slot=True).count()
        assert prompt.quality_slots_taken == held
    for comparison in DiversityComparison.objects.all():
        assert comparison.slots_taken == comparison.tasks.filter(holds_slot=True).count()
