from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs import services
from ratings.services import ServiceError, study_get_or_create


class Command(BaseCommand):
    help = (
        "Enqueue a model job on the gpu queue: 'pregenerate' a variant of the built-in model into a study, or "
        "'pretrain' a base model. Prints the job id; follow it at /staff/jobs/ or /api/jobs/ID/."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["pregenerate", "pretrain"])
        parser.add_argument("--study", help="Study slug (pregenerate; created if new).")
        parser.add_argument("--variant", default="", help="Variant name (pregenerate).")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A job parameter, repeatable: checkpoint=demo.pt gamma=2 temperature=1 prompts=12 samples=2 "
            "seed=0 (pregenerate); preset=tiny seed=0 (pretrain).",
        )

    def handle(self, *args, kind, study, variant, param, **options):
        parameters = {}
        for item in param:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--param {item!r} must be NAME=VALUE")
            parameters[name] = value  # typed and checked by generation.jobs.parse_parameters
        try:
            # One transaction: a refused job leaves no new study behind.
            with transaction.atomic():
                target = study_get_or_create(slug=study) if study else None
                job, created = services.job_enqueue(
                    kind=kind, parameters=parameters, study=target, variant_name=variant
                )
        except (services.JobRefused, ServiceError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{job.pk}\t{'enqueued' if created else 'already active'}\t{job}")
