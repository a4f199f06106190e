"""HTTP helpers: audio files of Django's default storage served with Range support (206 Partial
Content) so players can seek, or handed to nginx (X-Accel-Redirect); and the client's address."""

import functools
import re
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$", re.IGNORECASE)
_CONTENT_TYPES = {".wav": "audio/wav", ".flac": "audio/flac"}


@dataclass(frozen=True)
class ByteRange:
    """The bytes a response carries: first and last (inclusive), and whether it is a part (206)."""

    start: int
    end: int
    partial: bool


MAX_RANGE_HEADER = 100  # AudioRequest.range_header's length: two longer headers would share one record


def requested_range(header: str, size: int) -> ByteRange | None:
    """What a request with this Range header gets of a file of `size` bytes: the whole file (no Range
    header), one range of it, or None (answered 416) for a range past its end and for any header that is
    not one plain `bytes=first-last` range (several ranges, another unit, garbage, or longer than the
    evidence keeps: MAX_RANGE_HEADER characters). Refusing those instead
    of answering them whole keeps the listening evidence true behind nginx (X-Accel-Redirect), which would
    read such a header its own way and might send a few bytes where the whole file was recorded.
    The one rule of the server and of the evidence."""
    header = header.strip()
    if not header:
        return ByteRange(0, size - 1, partial=False)
    if len(header) > MAX_RANGE_HEADER:
        return None
    match = _RANGE.match(header)
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # a suffix range: the last N bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return None
    return ByteRange(start, end, partial=True)


def audio_file_response(request: HttpRequest, *, name: str, size: int | None = None) -> HttpResponse:
    """The audio file that default storage keeps under ``name``: whole (200), one byte range (206), or
    416 for a range past its end. Call it only once the rater may hear the file. No name, date or tag
    of the file leaves the server, so two files of equal size answer with equal headers.

    With ``settings.AUDIO_X_ACCEL_PREFIX`` set, the answer is empty and names the file in
    X-Accel-Redirect: nginx sends the bytes from its internal location at that prefix (deploy/nginx.conf),
    so no Python worker waits on a slow download; a Range it would get is one this function accepted.
    ``size``: the file's size where the caller found it already (else asked of the storage).
    """
    content_type = _CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")
    prefix = settings.AUDIO_X_ACCEL_PREFIX
    size = default_storage.size(name) if size is None else size
    byte_range = requested_range(request.headers.get("Range", ""), size)
    if byte_range is None:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if prefix:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(name)
        return _private(response)
    if not byte_range.partial:
        # A FileResponse of a storage file would name it in Content-Disposition (the clip's token,
        # telling a rater that two positions of a comparison play the same clip): _private drops it.
        return _private(FileResponse(default_storage.open(name, "rb"), content_type=content_type))
    with default_storage.open(name, "rb") as handle:
        handle.seek(byte_range.start)
        body = handle.read(byte_range.end - byte_range.start + 1)
    response = HttpResponse(body, status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
    return _private(response)


def _private(response: HttpResponse) -> HttpResponse:
    response.headers.pop("Content-Disposition", None)
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


# rater_path's stand-ins for its arguments: each passes the token converter of the rater URLs
# (ratings/urls.py).
_SLOTS = ("zSLOT0z", "zSLOT1z", "zSLOT2z", "zSLOT3z")
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@functools.cache
def _path_pieces(viewname: str, script_prefix: str, urlconf: str, arity: int) -> tuple[str, ...] | None:
    """The URL's path cut at its arguments (reversed once with stand-ins), or None where a stand-in
    does not pass the URL's converters (an ``int`` argument)."""
    try:
        rest = reverse(viewname, urlconf=urlconf, args=_SLOTS[:arity])
    except NoReverseMatch:
        return None
    pieces = []
    for slot in _SLOTS[:arity]:
        before, found, rest = rest.partition(slot)
        if not found:
            return None
        pieces.append(before)
    return (*pieces, rest)


def rater_path(viewname: str, *args: str) -> str:
    """``reverse(viewname, args=args)`` for the rater's URLs, whose arguments are tokens, kinds and
    labels: the path is reversed once per URL name, script prefix and URLconf with stand-ins, and each
    call puts its arguments between the pieces. A reverse() cost a claim or a submit about a twentieth
    of its CPU, for its redirect (benchmarks/request_cpu.py). An argument that would need quoting, or a
    URL whose converters refuse the stand-ins, is reversed as usual."""
    pieces = None
    if len(args) <= len(_SLOTS) and all(isinstance(arg, str) and _URL_SAFE.fullmatch(arg) for arg in args):
        urlconf = get_urlconf() or settings.ROOT_URLCONF
        pieces = _path_pieces(viewname, get_script_prefix(), urlconf, len(args))
    if pieces is None:
        return reverse(viewname, args=args)
    return "".join(piece + arg for piece, arg in zip(pieces, args, strict=False)) + pieces[-1]
