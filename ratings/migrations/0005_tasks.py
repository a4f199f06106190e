# One table of tasks for every kind (ratings/kinds/), the diversity answer beside it. 0006 copies the
# quality and diversity assignments into it; 0007 drops them.

import django.db.models.deletion
import ratings.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ratings', '0004_rater_excluded_study_diversity_part'),
    ]

    operations = [
        migrations.CreateModel(
            name='Task',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(help_text='A task kind of ratings/kinds/: quality, diversity.', max_length=20)),
                ('token', models.CharField(default=ratings.models.new_token, editable=False, max_length=64, unique=True)),
                ('clips', models.JSONField(default=list, help_text='Clip ids in the order shown; the kind names the positions (A, B… or A1…B2).')),
                ('status', models.CharField(choices=[('open', 'Open'), ('submitted', 'Submitted'), ('withdrawn', 'Withdrawn')], default='open', max_length=10)),
                ('listening', models.JSONField(blank=True, default=dict, help_text='Per clip label: plays, seconds played, played to the end.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('submitted_at', models.DateTimeField(blank=True, null=True)),
                ('holds_slot', models.BooleanField(default=True)),
                ('check_passed', models.BooleanField(blank=True, null=True)),
                ('check_item', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='tasks', to='ratings.checkitem')),
                ('comparison', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='ratings.diversitycomparison')),
                ('prompt', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='ratings.prompt')),
                ('rater', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='ratings.rater')),
            ],
            options={
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='DiversityJudgement',
            fields=[
                ('task', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='judgement', serialize=False, to='ratings.task')),
                ('choice', models.SmallIntegerField(help_text='−2 A much more diverse … +2 B much more.')),
                ('variant_a', models.ForeignKey(help_text='Heard as pair A.', on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ratings.variant')),
                ('variant_b', models.ForeignKey(help_text='Heard as pair B.', on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ratings.variant')),
            ],
        ),
        migrations.AddField(
            model_name='qualityrating',
            name='task',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ratings.task'),
        ),
        migrations.AlterField(
            model_name='checkitem',
            name='kind',
            field=models.CharField(help_text='A task kind of ratings/kinds/: quality, diversity.', max_length=20),
        ),
    ]
