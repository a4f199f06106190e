"""Process CPU of the rater's requests against a trivial Django request, as ratios.

In one process, the server warm, production settings (DEBUG off) on a fresh PostgreSQL database: raters
walk claim (``/r/<rater>/next/``) → task page → every clip fetched (Range ``bytes=0-``) → wait the
clips' listening time → submit, and a trivial request (a view returning "ok" through the whole
middleware stack) runs beside each cycle. Each request's ``time.process_time()`` is taken; the median of
the warm ones (after ``--warmup`` cycles) is printed, and its ratio to the trivial request's.

Raters interleave, ``--concurrent`` (20) at a time, as a server sees them: while one listens, the others'
requests run, and when none may go on the wait is spent on trivial requests (not counted). A request
measured alone after its rater's idle listening wait cost several times its CPU on this machine (the
submit 36–55 ms against 5–13 ms: cold caches, which a loaded server does not have; ``--concurrent 1
--idle-wait`` shows it). The database connection is kept (``--conn-max-age 60``), as the production
server keeps it.

    python3 benchmarks/request_cpu.py [--cycles 30] [--warmup 5] [--clip-seconds 0.5]
    python3 benchmarks/request_cpu.py --first-request   # also: a gunicorn worker's first request,
                                                        # plain against evalsite/gunicorn_conf.py
    python3 benchmarks/request_cpu.py --profile claim "task page" submit   # cProfile (process CPU)
    python3 benchmarks/request_cpu.py --queries claim "task page" audio submit   # one request's SQL
    python3 benchmarks/request_cpu.py --database-share   # also: the CPU spent in database calls

The answer is posted urlencoded, as the page's form (no enctype) is.

As the production master does before it forks (evalsite/gunicorn_conf.py), the process warms up and
freezes what it loaded out of the garbage collector's sight first (``--no-freeze`` leaves it out: each
full collection then walks Django's whole heap again, about 1 trivial request more per submit here).
The test client disconnects ``close_old_connections`` from ``request_started``, so Django's check of a
kept connection before a request (CONN_HEALTH_CHECKS; on PostgreSQL a look at its socket, no round trip:
evalsite/postgresql/base.py) is not in these figures; benchmarks/rater_load.py's, through gunicorn, have it.

PostgreSQL's own CPU is not in these figures (another process); the client's share of it is.
"""

import argparse
import cProfile
import http.client
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import psycopg
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "counterpoint_request_cpu"
VARIANTS = 3
ENDPOINTS = ("trivial", "claim", "task page", "audio", "submit")  # what --profile and --queries may name


def trivial(request):
    from django.http import HttpResponse

    return HttpResponse("ok", content_type="text/plain")


urlpatterns: list = []  # filled in main(): the site's URLs and /trivial/ (this module is the URLconf)


def prepare(admin_url: str, scratch: Path, prompts: int, clip_seconds: float) -> str:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DB_NAME}")
    database_url = admin_url.rsplit("/", 1)[0] + f"/{DB_NAME}"
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": str(scratch / "media"),
            "COUNTERPOINT_VAR_DIR": str(scratch / "var"),
            "DJANGO_SETTINGS_MODULE": "evalsite.settings",
        }
    )
    os.environ.pop("DJANGO_DEBUG", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    folder = scratch / "clips"
    folder.mkdir()
    rate = 16000
    t = np.arange(int(rate * clip_seconds)) / rate
    with (folder / "manifest.csv").open("w") as manifest:
        manifest.write("prompt_id,prompt_text,variant,sample_index,path\n")
        for p in range(prompts):
            for v in range(VARIANTS):
                soundfile.write(
                    folder / f"{p}_{v}.wav", 0.2 * np.sin(2 * np.pi * (200 + p + 50 * v) * t), rate
                )
                manifest.write(f"p{p:03d},Prompt {p},v{v},0,{p}_{v}.wav\n")
    return database_url


def fill_form(page: str) -> tuple[dict[str, str], list[str], float]:
    """The answer a rater who heard every clip posts, the clips' URLs, and their total duration."""
    form = {"csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)}
    clips = re.findall(r'data-label="([A-Z0-9]+)" data-duration="([0-9.]+)"', page)
    for name in set(re.findall(r'type="radio" name="([^"]+)"', page)):
        values = re.findall(rf'type="radio" name="{re.escape(name)}" value="([^"]+)"', page)
        values = values or re.findall(rf'name="{re.escape(name)}" value="([^"]+)"', page)
        form[name] = values[len(values) // 2]
    for label, duration in clips:
        form.update({f"plays_{label}": "1", f"seconds_{label}": duration, f"ended_{label}": "True"})
        form[f"events_{label}"] = f'[["play", 0], ["ended", {duration}]]'
    sources = re.findall(r'<audio[^>]* src="([^"]+)"', page)
    return form, sources, sum(float(d) for _, d in clips)


PROFILES: dict = {}  # endpoint name → cProfile.Profile, for the endpoints named by --profile
DATABASE_SHARE: dict = {}  # endpoint name → [(CPU seconds in database calls, statements)] per warm request


class DatabaseCalls:
    """--database-share: the process CPU one request spends in database calls (its statements, BEGIN
    included, as psycopg sends it with the first; COMMIT and ROLLBACK; the check of a kept connection,
    where Django runs it) and how many statements it ran. Set on the one connection the benchmark uses;
    it adds two clock reads per call."""

    def __init__(self, connection):
        self.seconds, self.statements = 0.0, 0
        connection.execute_wrappers.append(self._statement)
        for name in ("commit", "rollback", "close_if_health_check_failed"):
            setattr(connection, name, self._timed(getattr(connection, name)))

    def reset(self) -> None:
        self.seconds, self.statements = 0.0, 0

    def _spent(self, call, *args):
        started = time.process_time()
        try:
            return call(*args)
        finally:
            self.seconds += time.process_time() - started

    def _statement(self, execute, sql, params, many, context):
        self.statements += 1
        return self._spent(execute, sql, params, many, context)

    def _timed(self, method):
        return lambda *args: self._spent(method, *args)


def measure(args, study_slug: str) -> dict[str, list[float]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from ratings import services
    from ratings.models import Study

    study = Study.objects.get(slug=study_slug)
    raters = services.raters_invite(study=study, count=args.cycles + args.warmup)
    times: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
    in_database = DatabaseCalls(connection) if args.database_share else None
    errors = 0
    queries_shown: set[str] = set()
    # One handler, its middleware loaded once (as in a server); each rater a client of its own on it
    # (its own cookies, as a browser's). This one also answers the trivial requests between them.
    client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1")

    def timed(name: str, warm: bool, call, *call_args, **call_kwargs):
        """One request's process CPU, kept if warm; profiled (--profile) and its SQL printed once
        (--queries) when its endpoint is named."""
        profile = (
            PROFILES.setdefault(name, cProfile.Profile(time.process_time))
            if warm and name in args.profile
            else None
        )
        captured = None
        if warm and name in args.queries and name not in queries_shown:
            queries_shown.add(name)
            captured = CaptureQueriesContext(connection)
            captured.__enter__()
        if in_database is not None:
            in_database.reset()
        started = time.process_time()
        if profile is not None:
            profile.enable()
        response = call(*call_args, **call_kwargs)
        if profile is not None:
            profile.disable()
        spent = time.process_time() - started
        if warm and in_database is not None:
            DATABASE_SHARE.setdefault(name, []).append((in_database.seconds, in_database.statements))
        if captured is not None:
            captured.__exit__(None, None, None)
            print(f"--- {len(captured)} queries of one {name} request ---")
            for query in captured:
                print(" ", query["sql"][: args.query_width])
        if warm:
            times[name].append(spent)
        return response

    def walk(rater, warm: bool, client):
        """One rater's cycle; yields the moment it may go on (the listening wait), returns its errors."""
        timed("trivial", warm, client.get, "/trivial/")
        response = timed("claim", warm, client.get, f"/r/{rater.token}/next/")
        location = response.get("Location", "")
        if response.status_code != 302 or "/done/" in location:
            return 1
        response = timed("task page", warm, client.get, location)
        shown = time.monotonic()
        form, sources, listening_s = fill_form(response.content.decode())
        for source in sources:
            audio = timed("audio", warm, client.get, source, HTTP_RANGE="bytes=0-")
            b"".join(getattr(audio, "streaming_content", [audio.content]))
        yield shown + listening_s + args.extra_wait  # as a rater listens
        # As a browser posts a form without enctype (the test client would send multipart).
        body = urlencode(form)
        response = timed("submit", warm, client.post, location, body, "application/x-www-form-urlencoded")
        if response.status_code != 302:
            print(f"submit answered {response.status_code}", file=sys.stderr)
            return 1
        return 0

    # Raters interleave, --concurrent at a time, as a server sees them: while one listens, the others'
    # requests run. When none may go on, the wait is spent answering trivial requests (not counted), as
    # a loaded server stays busy (--idle-wait sleeps instead: on this machine a request after an idle
    # second cost several times its CPU, cold caches a loaded server never has).
    pending = list(enumerate(raters))
    active: list[list] = []  # [ready at, walk]
    while pending or active:
        while pending and len(active) < args.concurrent:
            cycle, rater = pending.pop(0)
            rater_client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1")
            rater_client.handler = client.handler  # one handler, its middleware loaded once, as a server's
            active.append([0.0, walk(rater, cycle >= args.warmup, rater_client)])
        active.sort(key=lambda entry: entry[0])
        ready_at, rater_walk = active[0]
        if ready_at > time.monotonic():
            if args.idle_wait:
                time.sleep(ready_at - time.monotonic())
            else:
                client.get("/trivial/")
            continue
        try:
            active[0][0] = next(rater_walk)
        except StopIteration as done:
            errors += done.value
            active.pop(0)
    times["errors"] = [errors]
    return times


def first_request(database_url: str, scratch: Path, token: str, settle_s: float) -> dict[str, float]:
    """Seconds of a gunicorn worker's first and second request to a rater's home page, plain and with
    evalsite/gunicorn_conf.py (preload and warm-up), each worker given settle_s to boot first."""
    found = {}
    for name, conf in (("plain", []), ("gunicorn_conf", ["-c", "evalsite/gunicorn_conf.py"])):
        port = 8790
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *conf, "evalsite.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database_url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            time.sleep(settle_s)
            for attempt in ("first", "second"):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                started = time.perf_counter()
                connection.request("GET", f"/r/{token}/", headers={"Host": "127.0.0.1"})
                status = connection.getresponse().status
                found[f"{name} {attempt}"] = time.perf_counter() - started
                assert status == 200, status
        finally:
            server.terminate()
            server.wait(timeout=30)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cycles", type=int, default=30, help="Warm claim → task → clips → submit cycles measured."
    )
    parser.add_argument("--warmup", type=int, default=5, help="Cycles run first and not counted.")
    parser.add_argument("--clip-seconds", type=float, default=0.5)
    parser.add_argument(
        "--extra-wait", type=float, default=0.2, help="Seconds waited beyond the clips' length."
    )
    parser.add_argument(
        "--concurrent", type=int, default=20, help="Raters in flight at once, their requests interleaved."
    )
    parser.add_argument(
        "--idle-wait",
        action="store_true",
        help="Sleep through the listening time instead of answering trivial requests meanwhile.",
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="DATABASE_CONN_MAX_AGE (60, as gunicorn under evalsite/gunicorn_conf.py keeps them; 0: a connection per request).",
    )
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--first-request", action="store_true", help="Also time a gunicorn worker's first request."
    )
    parser.add_argument(
        "--profile",
        nargs="*",
        default=[],
        choices=ENDPOINTS,
        help="Profile these endpoints' warm requests (cProfile) and print their costliest calls.",
    )
    parser.add_argument("--profile-lines", type=int, default=40)
    parser.add_argument(
        "--queries",
        nargs="*",
        default=[],
        choices=ENDPOINTS,
        help="Print the SQL of one warm request of these endpoints.",
    )
    parser.add_argument("--query-width", type=int, default=160)
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="Leave out the production master's warm-up and gc.freeze (evalsite/gunicorn_conf.py).",
    )
    parser.add_argument(
        "--database-share",
        action="store_true",
        help="Also print the CPU each request spends in database calls, and in the rest.",
    )
    parser.add_argument("--settle", type=float, default=8.0, help="Seconds a gunicorn worker gets to boot.")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="request-cpu-"))
    os.environ["DATABASE_CONN_MAX_AGE"] = str(args.conn_max_age)
    database_url = prepare(args.postgres, scratch, args.cycles + args.warmup + 5, args.clip_seconds)
    import django

    django.setup()
    from django.test.utils import override_settings
    from django.urls import include, path

    from ratings import services

    services.clips_import(study_slug="cpu", manifest=scratch / "clips" / "manifest.csv")
    urlpatterns.extend([path("trivial/", trivial), path("", include("evalsite.urls"))])
    if not args.no_freeze:
        # As the production master does before it forks its workers (evalsite/gunicorn_conf.py): warm
        # up, then keep what was loaded out of the garbage collector's sight.
        from evalsite.gunicorn_conf import freeze_loaded, warm_up

        warm_up()
        freeze_loaded()
    with override_settings(ROOT_URLCONF=__name__):
        times = measure(args, "cpu")
    errors = times.pop("errors")[0]
    base = statistics.median(times["trivial"])
    print(
        f"process CPU per warm request, median of {args.cycles} cycles ({os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}, DATABASE_CONN_MAX_AGE={args.conn_max_age}, {args.concurrent} raters "
        f"interleaved, waits {'idle' if args.idle_wait else 'busy with trivial requests'}); errors: {errors}"
    )
    for name, values in times.items():
        median = statistics.median(values) if values else float("nan")
        print(f"{name:>10}: {1000 * median:7.2f} ms  ({median / base:5.1f}x trivial, n={len(values)})")
    if DATABASE_SHARE:
        print("of which in database calls (statements with their BEGIN, COMMIT), median per request:")
    for name, shares in DATABASE_SHARE.items():
        seconds = statistics.median(share[0] for share in shares)
        statements = statistics.median(share[1] for share in shares)
        rest = statistics.median(total - share[0] for total, share in zip(times[name], shares, strict=True))
        print(
            f"{name:>10}: {statements:3.0f} statements {1000 * seconds:6.2f} ms ({seconds / base:4.1f}x trivial); "
            f"the rest {1000 * rest:6.2f} ms ({rest / base:4.1f}x trivial)"
        )
    for name, profile in PROFILES.items():
        print(f"\n--- profile of {name} (cumulative) ---")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile_lines)
        print(f"--- profile of {name} (own time) ---")
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile_lines // 2)
    if args.first_request:
        from ratings.models import Study

        token = services.raters_invite(study=Study.objects.get(slug="cpu"), count=1)[0].token
        for name, seconds in first_request(database_url, scratch, token, args.settle).items():
            print(f"gunicorn {name} request to a rater's home: {1000 * seconds:7.1f} ms")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
