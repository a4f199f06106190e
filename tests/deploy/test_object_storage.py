"""Object storage across machines: a GPU worker process whose default storage is the S3 bucket renders
and files a variant's clips (the pregenerate job's real path: generation.jobs, then clips_import), and
the web process serves them to a rater from the bucket; neither writes a clip to its local disk."""

import os
import subprocess
import sys

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client

from generation.jobs import parse_parameters
from jobs.models import GenerationJob, JobStatus
from ratings import selectors, services
from ratings.models import Clip
from tests.deploy.conftest import ROOT

GPU_WORKER = (
    "import sys, django; django.setup()\n"
    "from jobs.tasks import run_job\n"
    "print(run_job.apply(args=[sys.argv[1]]).get())\n"
)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_gpu_worker_with_s3_files_clips_that_the_web_process_serves(
    s3_storage, settings, tmp_path, tiny_checkpoint_name
):
    runs = tmp_path / "runs"
    (runs / "checkpoints").mkdir(parents=True)
    (runs / "checkpoints" / "tiny-test.pt").write_bytes(tiny_checkpoint_name.read_bytes())
    study = services.study_get_or_create(slug="s3")
    job = GenerationJob.objects.create(
        kind="pregenerate",
        study=study,
        variant_name="base",
        parameters=parse_parameters(
            "pregenerate", {"checkpoint": "tiny-test.pt", "prompts": 2, "samples": 1}
        ),
    )
    worker_media = tmp_path / "worker-media"
    env = {
        **os.environ,
        **s3_storage.env(),
        "DJANGO_SETTINGS_MODULE": "evalsite.settings",
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "COUNTERPOINT_VAR_DIR": str(tmp_path / "worker-var"),
        "COUNTERPOINT_RUNS_DIR": str(runs),
        "MEDIA_ROOT": str(worker_media),
        "OMP_NUM_THREADS": "1",
    }
    worker = subprocess.run(
        [sys.executable, "-c", GPU_WORKER, str(job.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    job.refresh_from_db()
    assert worker.returncode == 0 and job.status == JobStatus.SUCCEEDED, (worker.stderr[-2000:], job.error)

    clips = list(Clip.objects.filter(variant__study=study))
    objects = s3_storage.objects()
    assert len(clips) == 2 and {clip.audio.name for clip in clips} <= set(objects)
    assert all(
        default_storage.exists(c.audio.name) and default_storage.size(c.audio.name) > 1000 for c in clips
    )
    assert not worker_media.exists() or not any(
        worker_media.rglob("*.*")
    )  # nothing filed on the worker's disk

    # The web process (this one, its storage the same bucket) serves a clip to a rater by position.
    settings.MEDIA_ROOT = tmp_path / "web-media"
    rater = services.raters_invite(study=study, count=1)[0]
    task = services.task_next(rater=rater)
    label = selectors.task_clips_in_order(task)[0][0]
    response = Client().get(f"/r/{rater.token}/audio/{task.token}/{label}/", HTTP_RANGE="bytes=44-1043")
    assert response.status_code == 206 and len(response.content) == 1000
    size = int(response["Content-Range"].rsplit("/", 1)[1])
    served_from = [
        key
        for key, data in s3_storage.objects().items()
        if len(data) == size and data[44:1044] == response.content
    ]
    assert served_from, "the web process served bytes that are no object of the bucket"
    assert not settings.MEDIA_ROOT.exists() or not any(settings.MEDIA_ROOT.rglob("*.*"))
    assert job.result["clips"] == 2
