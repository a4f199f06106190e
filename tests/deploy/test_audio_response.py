"""ratings.http: the Range parser, and the audio answer from default storage or through nginx."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import RequestFactory

from ratings.http import ByteRange, audio_file_response, requested_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", ByteRange(0, 999, partial=False)),
        ("bytes=0-", ByteRange(0, 999, partial=True)),
        ("bytes=100-199", ByteRange(100, 199, partial=True)),
        ("bytes=900-5000", ByteRange(900, 999, partial=True)),  # a last byte past the end stops at the end
        ("bytes=-100", ByteRange(900, 999, partial=True)),  # the last 100 bytes
        ("bytes=-5000", ByteRange(0, 999, partial=True)),
        ("Bytes=10-19", ByteRange(10, 19, partial=True)),
    ],
)
def test_a_range_header_asks_for_the_bytes_it_names(header, expected):
    assert requested_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header",
    # past the end, and what nginx or object storage might read otherwise than the evidence would
    ["bytes=1000-", "bytes=500-400", "bytes=-0", "bytes=0-0,2-2", "items=0-10", "bytes=-", "bytes= 0-0"],
)
def test_a_range_past_the_end_is_not_satisfiable(header):
    assert requested_range(header, 1000) is None


@pytest.fixture
def stored(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.AUDIO_X_ACCEL_PREFIX = ""
    data = bytes(range(256)) * 8
    name = default_storage.save("clips/s/secret-token.wav", ContentFile(data))
    return name, data


def _get(name, **headers):
    return audio_file_response(RequestFactory().get("/r/x/audio/t/A/", **headers), name=name)


def test_django_sends_the_whole_file_or_the_range_asked_for_by_storage_name(stored):
    name, data = stored
    whole = _get(name)
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == data
    assert whole["Content-Type"] == "audio/wav" and whole["Accept-Ranges"] == "bytes"
    assert "Content-Disposition" not in whole  # the stored name (the clip's token) never leaves
    part = _get(name, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and part.content == data[10:20]
    assert part["Content-Range"] == f"bytes 10-19/{len(data)}"
    refused = _get(name, HTTP_RANGE=f"bytes={len(data)}-")
    assert refused.status_code == 416 and refused["Content-Range"] == f"bytes */{len(data)}"


def test_with_a_prefix_nginx_is_told_to_send_the_file_and_django_sends_no_byte(stored, settings):
    name, _ = stored
    settings.AUDIO_X_ACCEL_PREFIX = "/_audio/"
    response = _get(name, HTTP_RANGE="bytes=10-19")
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/_audio/{name}"
    assert response["Content-Type"] == "audio/wav" and "Content-Disposition" not in response


def test_with_a_prefix_a_range_nginx_might_read_otherwise_is_refused_by_django(stored, settings):
    name, data = stored
    settings.AUDIO_X_ACCEL_PREFIX = "/_audio/"
    response = _get(name, HTTP_RANGE="bytes=0-0,2-2")  # two bytes sent, the whole file recorded
    assert response.status_code == 416 and "X-Accel-Redirect" not in response
    assert response["Content-Range"] == f"bytes */{len(data)}"
