"""Sessions a rater can finish and one forgiven miss, for new studies.

Studies that exist already keep what they had: session_minutes is added as 0 (no limit) for them, and
a new study gets 20 minutes; attention_failures_allowed changes only its default (existing rows keep
their value)."""

from django.db import migrations, models

SESSION_HELP = (
    "Minutes of listening in one rater's session: the session's items are these minutes over an "
    "item's listening time (its clips' durations). Ignored when max_items_per_rater is set; 0 = no limit."
)


class Migration(migrations.Migration):
    dependencies = [
        ("ratings", "0007_drop_assignments"),
    ]

    operations = [
        migrations.AddField(
            model_name="study",
            name="session_minutes",
            field=models.PositiveSmallIntegerField(default=0, help_text=SESSION_HELP),
        ),
        migrations.AlterField(
            model_name="study",
            name="session_minutes",
            field=models.PositiveSmallIntegerField(default=20, help_text=SESSION_HELP),
        ),
        migrations.AlterField(
            model_name="study",
            name="attention_failures_allowed",
            field=models.PositiveSmallIntegerField(
                default=1,
                help_text="Failed attention or gold items a rater may have before being excluded (one miss is forgiven).",
            ),
        ),
    ]
