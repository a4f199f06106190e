import pytest

from tests.jobs.conftest import redis_broker  # noqa: F401 - the real Redis, shared with the job tests


@pytest.fixture(autouse=True)
def _runs_and_media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.COUNTERPOINT = {**settings.COUNTERPOINT, "RUNS_DIR": tmp_path / "runs"}
