# Every quality and diversity assignment becomes a task with the same rater, prompt, token, clips in
# order, status, listening evidence, times, slot holding and check outcome; quality ratings follow
# their assignment, a submitted diversity assignment's answer becomes its judgement. Nothing is lost.
#
# One open task per rater now holds across kinds: a rater who held an open item of each kind keeps the
# older one open; the newer is withdrawn and its slot given back (no answer was on it).

from django.db import migrations
from django.db.models import F

SHARED = ("rater_id", "prompt_id", "token", "status", "listening", "submitted_at", "holds_slot",
          "check_item_id", "check_passed")


def assignments_to_tasks(apps, schema_editor):
    Task = apps.get_model("ratings", "Task")
    QualityAssignment = apps.get_model("ratings", "QualityAssignment")
    DiversityAssignment = apps.get_model("ratings", "DiversityAssignment")
    QualityRating = apps.get_model("ratings", "QualityRating")
    DiversityJudgement = apps.get_model("ratings", "DiversityJudgement")
    Prompt = apps.get_model("ratings", "Prompt")
    DiversityComparison = apps.get_model("ratings", "DiversityComparison")

    for old in QualityAssignment.objects.order_by("pk").iterator():
        task = Task.objects.create(kind="quality", clips=list(old.clip_order), **{f: getattr(old, f) for f in SHARED})
        # auto_now_add set created_at on create: carry the original over.
        Task.objects.filter(pk=task.pk).update(created_at=old.created_at)
        QualityRating.objects.filter(assignment_id=old.pk).update(task_id=task.pk)
    for old in DiversityAssignment.objects.order_by("pk").iterator():
        task = Task.objects.create(
            kind="diversity",
            comparison_id=old.comparison_id,
            clips=[*old.clips_a, *old.clips_b],
            **{f: getattr(old, f) for f in SHARED},
        )
        Task.objects.filter(pk=task.pk).update(created_at=old.created_at)
        if old.choice is not None:
            DiversityJudgement.objects.create(
                task_id=task.pk, variant_a_id=old.variant_a_id, variant_b_id=old.variant_b_id, choice=old.choice
            )

    open_by_rater = {}
    for task in Task.objects.filter(status="open").order_by("created_at", "pk"):
        if task.rater_id not in open_by_rater:
            open_by_rater[task.rater_id] = task
            continue
        Task.objects.filter(pk=task.pk).update(status="withdrawn", holds_slot=False)
        if task.holds_slot and task.check_item_id is None:
            if task.kind == "quality":
                Prompt.objects.filter(pk=task.prompt_id).update(quality_slots_taken=F("quality_slots_taken") - 1)
            elif task.comparison_id is not None:
                DiversityComparison.objects.filter(pk=task.comparison_id).update(slots_taken=F("slots_taken") - 1)


class Migration(migrations.Migration):

    dependencies = [
        ('ratings', '0005_tasks'),
    ]

    operations = [
        migrations.RunPython(assignments_to_tasks, migrations.RunPython.noop, elidable=False),
    ]
