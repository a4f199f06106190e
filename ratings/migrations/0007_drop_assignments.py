# The assignment tables, copied into tasks by 0006, go; the tasks' constraints come in.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ratings', '0006_tasks_data'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='qualityrating',
            name='one_rating_per_assignment_clip_criterion',
        ),
        migrations.RemoveField(
            model_name='qualityrating',
            name='assignment',
        ),
        migrations.AlterField(
            model_name='qualityrating',
            name='task',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='ratings', to='ratings.task'),
        ),
        migrations.AlterModelOptions(
            name='qualityrating',
            options={'ordering': ['task', 'clip', 'criterion']},
        ),
        migrations.AddConstraint(
            model_name='qualityrating',
            constraint=models.UniqueConstraint(fields=('task', 'clip', 'criterion'), name='one_rating_per_task_clip_criterion'),
        ),
        migrations.DeleteModel(
            name='DiversityAssignment',
        ),
        migrations.DeleteModel(
            name='QualityAssignment',
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(fields=['kind', 'status'], name='task_kind_status'),
        ),
        migrations.AddConstraint(
            model_name='task',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'open')), fields=('rater',), name='one_open_task_per_rater'),
        ),
        migrations.AddConstraint(
            model_name='task',
            constraint=models.UniqueConstraint(condition=models.Q(('kind', 'quality')), fields=('rater', 'prompt'), name='one_quality_task_per_rater_prompt'),
        ),
        migrations.AddConstraint(
            model_name='task',
            constraint=models.UniqueConstraint(fields=('rater', 'comparison'), name='one_task_per_rater_comparison'),
        ),
        migrations.AddConstraint(
            model_name='diversityjudgement',
            constraint=models.CheckConstraint(condition=models.Q(('choice__gte', -2), ('choice__lte', 2)), name='diversity_choice_in_scale'),
        ),
    ]
