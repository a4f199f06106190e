"""evalsite/settings.py's storage block: the local file system by default, an S3 bucket when asked,
and a one-line refusal when the bucket is missing or the kind unknown."""

import os
import subprocess
import sys

import pytest

from tests.deploy.conftest import ROOT

SHOW = (
    "import django; django.setup()\n"
    "from django.core.files.storage import storages\n"
    "print(type(storages['default']).__name__, getattr(storages['default'], 'bucket_name', '-'))\n"
)


def settings_with(tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("COUNTERPOINT_STORAGE", "S3_"))}
    environment.update(DJANGO_SETTINGS_MODULE="evalsite.settings", COUNTERPOINT_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_clips_are_on_the_local_file_system_unless_s3_is_asked_for(tmp_path):
    assert settings_with(tmp_path).stdout.split() == ["FileSystemStorage", "-"]
    s3 = settings_with(
        tmp_path, COUNTERPOINT_STORAGE="s3", S3_BUCKET="clips", S3_ENDPOINT_URL="http://127.0.0.1:1"
    )
    assert s3.stdout.split() == ["S3Storage", "clips"], s3.stderr[-1000:]


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"COUNTERPOINT_STORAGE": "s3"}, "COUNTERPOINT_STORAGE=s3 needs S3_BUCKET"),
        ({"COUNTERPOINT_STORAGE": "ftp"}, "COUNTERPOINT_STORAGE must be filesystem or s3, not 'ftp'"),
        ({"AUDIO_X_ACCEL_PREFIX": "_audio/"}, "AUDIO_X_ACCEL_PREFIX must be a path starting with /"),
    ],
)
def test_a_storage_setting_that_cannot_work_stops_the_site_with_one_line(tmp_path, env, reason):
    result = settings_with(tmp_path, **env)
    assert result.returncode != 0 and reason in result.stderr.strip().splitlines()[-1]
