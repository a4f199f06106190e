from django.db import migrations


def content_types_forward(apps, schema_editor):
    """Keep the admin permissions and log entries of jobs made while the app was generation_web."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="jobs", model="generationjob").exists():
        ContentType.objects.filter(app_label="generation_web", model="generationjob").update(app_label="jobs")


def content_types_backward(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="jobs", model="generationjob").update(app_label="generation_web")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelTable(name="generationjob", table=None),
        migrations.RunPython(content_types_forward, content_types_backward),
    ]
