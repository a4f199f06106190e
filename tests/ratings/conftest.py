import pytest

from ratings import clip_rows, selectors, services


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path_factory):
    """Every ratings test stores audio in its own temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _no_remembered_clip_stats():
    """Each test counts its own study's clips (a process remembers them for a minute: study_clip_stats)."""
    selectors.study_clip_stats_forget()
    clip_rows.clips_forget()  # and reads its own clips (a process keeps them: ratings/clip_rows.py)
    services.claims_expire_forget()  # and sweeps its own stale claims (services.queue._claims_expire_due)
