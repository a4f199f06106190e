"""HTTP helpers: audio files served with Range support (206 Partial Content) so players can seek, and
the client's address."""

import re
import time
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.http import FileResponse, HttpRequest, HttpResponse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CONTENT_TYPES = {".wav": "audio/wav", ".flac": "audio/flac"}


def ranged_file_response(request: HttpRequest, path: Path | str) -> HttpResponse:
    """The whole file (200), one byte range of it (206), or 416 for a range past its end.

    Multi-range requests are answered with the whole file, which RFC 9110 allows.
    """
    path = Path(path)
    size = path.stat().st_size
    content_type = _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if not match or match.groups() == ("", ""):
        response = FileResponse(path.open("rb"), content_type=content_type)
        # FileResponse names the stored file (the clip's token) here: it would tell a rater that two
        # positions of a comparison play the same clip, so no name leaves the server.
        del response["Content-Disposition"]
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = "private, max-age=3600"
        return response
    first, last = match.groups()
    if first == "":  # a suffix range: the last N bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    with path.open("rb") as handle:
        handle.seek(start)
        body = handle.read(end - start + 1)
    response = HttpResponse(body, status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def client_address(request: HttpRequest) -> str:
    """The address of the client that sent the request.

    Behind ``settings.TRUSTED_PROXIES`` proxies of the operator's own, each proxy appends the address it
    saw to X-Forwarded-For, so the client is that many entries from the right (whatever the client put
    on the left is its own invention). With no trusted proxy the header is ignored.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if not forwarded:
        return remote
    return forwarded[-min(proxies, len(forwarded))]


def over_rate(request: HttpRequest, *, scope: str, per_minute: int) -> bool:
    """Count this request against its client address's budget for the current minute; True once the
    address has made more than ``per_minute`` requests of ``scope`` in it."""
    key = f"rate:{scope}:{client_address(request)}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        return cache.incr(key) > per_minute
    except ValueError:  # the counter expired between add and incr
        cache.set(key, 1, timeout=120)
        return per_minute < 1
