"""Audio bytes off the Python workers: a rater's audio request goes through nginx (deploy/nginx.conf) to
Django, which checks the rater and the task and answers X-Accel-Redirect; nginx then sends the bytes,
proxied from the S3-compatible server, answering the Range itself."""

import urllib.error
import urllib.request
from email.message import Message

import pytest
from django.core.signals import request_started

from ratings import selectors, services
from ratings.services.listening import task_audio_name
from tests.ratings.factories import make_raters, make_study


def fetch(url: str, **headers: str) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture
def django_paths():
    """The paths of the requests Django (the live server, in this process) started to answer."""
    seen: list[str] = []

    def record(sender, environ, **kwargs):
        seen.append(environ["PATH_INFO"])

    request_started.connect(record)
    yield seen
    request_started.disconnect(record)


@pytest.mark.django_db(transaction=True)
def test_a_rater_range_request_through_nginx_gets_its_bytes_from_object_storage(
    nginx, s3_storage, settings, tmp_path, django_paths
):
    settings.AUDIO_X_ACCEL_PREFIX = "/_audio/"
    study = make_study(tmp_path, slug="nginx", prompts=1, variants=("a", "b"), seconds=1.0)
    rater, other = make_raters(study, 2)
    task = services.task_next(rater=rater)
    label = selectors.task_clips_in_order(task)[1][0]
    path = f"/r/{rater.token}/audio/{task.token}/{label}/"

    status, headers, body = fetch(nginx.url + path, Range="bytes=100-1099")

    assert status == 206, (headers, body[:300])
    assert len(body) == 1000 and headers["Content-Range"].startswith("bytes 100-1099/")
    size = int(headers["Content-Range"].rsplit("/", 1)[1])
    in_bucket = [
        data for data in s3_storage.objects().values() if len(data) == size and data[100:1100] == body
    ]
    assert in_bucket, "nginx sent bytes that are no object of the bucket"
    assert "X-Accel-Redirect" not in headers and "ETag" not in headers
    assert headers.get_all("Cache-Control") == ["private, max-age=3600"], headers.get_all("Cache-Control")
    assert django_paths.count(path) == 1  # Django checked the rater and the task before nginx sent a byte

    # The whole file without a Range header; another rater's token, or the internal location, gets nothing.
    status, _, whole = fetch(nginx.url + path)
    assert status == 200 and whole[100:1100] == body and len(whole) == size
    assert fetch(nginx.url + f"/r/{other.token}/audio/{task.token}/{label}/", Range="bytes=0-")[0] == 404
    name = task_audio_name(task, label)  # the position's own file, which nginx sent above
    assert fetch(nginx.url + f"/_audio/{name}")[0] == 404
    assert f"/_audio/{name}" not in django_paths  # nginx refused it itself: the location is internal
