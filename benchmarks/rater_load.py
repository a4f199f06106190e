"""A load that looks like a study: raters arriving over a minute, listening before they answer.

Run as a script, it prepares a fresh PostgreSQL database with a study of 2-second clips, serves it as
production does, nginx (deploy/nginx.conf: buffering, audio sent through X-Accel-Redirect) in front of
gunicorn (evalsite/gunicorn_conf.py via benchmarks/gunicorn_timing.py, production settings: DEBUG off),
both pinned to the server's cores with taskset, and drives it with locust (headless, loopback only)
pinned to other cores, reading this same file as its locustfile. Besides the client's latencies it
prints the server's own wall and CPU time per request by endpoint (their gap to the client's latency is
time queued for a worker), the CPU of the generator, the server and PostgreSQL, and each core's busy
share:

1. **The study.** ``--raters`` raters arrive at an even rate over ``--arrival-s`` seconds (open loop:
   an arrival does not wait for the server), each going through consent, instructions and the headphone
   check (fetching its sounds and picking the quietest tone), then ``--items`` items: claim → task page
   → every clip fetched with Range requests → wait the clips' listening time + 1 s (from when the page
   was shown) → submit. Prints p50/p95/p99 per endpoint, errors, the generator's and the server's CPU,
   and the coverage invariant afterwards (no prompt past N raters, nobody with two open tasks).
2. **The saturation point** (``--steps``): raters with no onboarding loop over items as above, more of
   them at each step; the point is the most rating cycles per second (submits) per server core with
   every rater endpoint's p95 under ``--p95-ms`` (200 ms).

Bounded: each locust run stops at its ``--run-time`` and every request has a timeout; only 127.0.0.1.

    python3 benchmarks/rater_load.py                       # 300 raters in 60 s, 4 items, then 4 steps
    python3 benchmarks/rater_load.py --raters 30 --arrival-s 15 --items 2 --steps 4,8 --step-s 20
"""

import argparse
import csv
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
PORT = 8765
ENDPOINTS = (
    "home",
    "consent",
    "instructions",
    "headphones",
    "headphone audio",
    "claim",
    "task page",
    "clip audio",
    "submit",
    "done",
)
RATER_ENDPOINTS = ("claim", "task page", "clip audio", "submit")  # the saturation point's p95 covers these


def _kind_of(method: str, path: str) -> str:
    if "/audio/" in path:
        return "clip audio"
    if re.search(r"/headphones/\d+/$", path):
        return "headphone audio"
    for part in ("next", "consent", "instructions", "headphones", "done"):
        if path.endswith(f"/{part}/"):
            return "claim" if part == "next" else part
    if re.fullmatch(r"/r/[\w-]+/", path):
        return "home"
    return "submit" if method == "POST" else "task page"


# --- the locustfile: one locust user per rater ------------------------------------------------------

if "locust" in sys.modules:  # imported by locust as its locustfile
    from locust import FastHttpUser, HttpUser, events, task
    from locust.exception import StopUser

    # The client of each rater: locust's FastHttpUser (geventhttpclient, the default) or HttpUser
    # (python-requests), which costs the generator several times the CPU per request and so adds its own
    # queueing to what it measures at a study's peak (--client).
    _fast = os.environ.get("LOAD_CLIENT", "fast") == "fast"

    _tokens = iter(Path(os.environ["LOAD_TOKENS"]).read_text().split())
    _items = int(os.environ.get("LOAD_ITEMS", "4"))
    _extra_wait = float(os.environ.get("LOAD_EXTRA_WAIT", "1"))
    _finished = {"raters": 0}
    _total = int(os.environ.get("LOAD_RATERS", "0"))

    def _quietest(wav: bytes) -> int:
        """Which of the headphone trial's three tones is quietest, as a listener would hear it: the
        sound's 20 ms frames grouped into the tones between silences, the group of least energy."""
        audio, rate = soundfile.read(io.BytesIO(wav))
        frame = int(rate * 0.02)
        left = audio[: len(audio) // frame * frame, 0].reshape(-1, frame)
        energy = np.sqrt(np.mean(left**2, axis=1))
        tones: list[list[float]] = []
        for previous, level in zip(np.concatenate([[0.0], energy[:-1]]), energy, strict=True):
            if level > 1e-3:
                if previous <= 1e-3:
                    tones.append([])
                tones[-1].append(float(level))
        return int(np.argmin([np.mean(levels) for levels in tones[:3]]))

    def _csrf(page: str) -> str:
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    class Rater(FastHttpUser if _fast else HttpUser):
        """A rater from their invite link to their last item: pages, sounds and clips as a browser asks
        for them, the listening time waited before each answer."""

        host = f"http://127.0.0.1:{PORT}"
        network_timeout = connection_timeout = 60.0  # (FastHttpUser's; HttpUser's is per request)

        def on_start(self) -> None:
            self.token = next(_tokens, None)
            if self.token is None:
                raise StopUser()

        def go(self, method: str, path: str, data: dict | None = None, **headers: str):
            kind = _kind_of(method, path)
            if data is not None:  # as a browser posts a form without enctype
                data, headers = (
                    urlencode(data),
                    {**headers, "Content-Type": "application/x-www-form-urlencoded"},
                )
            timeout = {} if _fast else {"timeout": 60}
            with self.client.request(
                method,
                path,
                data=data,
                headers=headers,
                name=kind,
                allow_redirects=False,
                catch_response=True,
                **timeout,
            ) as response:
                if response.status_code not in (200, 206, 302):
                    response.failure(f"{kind}: {response.status_code}")
                return response

        @task
        def rate(self) -> None:
            self.go("GET", f"/r/{self.token}/")
            path, method, data, items = f"/r/{self.token}/next/", "GET", None, 0
            for _ in range(8 * _items + 20):  # every step of a session, bounded
                response = self.go(method, path, data)
                if response.status_code == 302:
                    path, method, data = response.headers["Location"], "GET", None
                    continue
                if response.status_code != 200 or path.endswith("/done/"):
                    break
                page, method = response.text, "POST"
                if path.endswith("/consent/"):
                    data = {"csrfmiddlewaretoken": _csrf(page), "agree": "on"}
                elif path.endswith("/instructions/"):
                    data = {"csrfmiddlewaretoken": _csrf(page)}
                elif path.endswith("/headphones/"):
                    trials = sorted({int(n) for n in re.findall(r'name="trial_(\d+)"', page)})
                    data = {"csrfmiddlewaretoken": _csrf(page)}
                    for trial in trials:
                        data[f"trial_{trial}"] = str(_quietest(self.go("GET", f"{path}{trial}/").content))
                elif items >= _items:
                    break
                else:
                    data = self.answer(page)
                    items += 1
            _finished["raters"] += 1
            if _total and _finished["raters"] >= _total:
                self.environment.runner.quit()
            raise StopUser()

        def answer(self, page: str) -> dict[str, str]:
            """Every clip fetched as an audio element does (Range: bytes=0-), the clips' listening time
            waited from when the page was shown, then the answer: middle scores, full listening."""
            shown = time.monotonic()
            form = {"csrfmiddlewaretoken": _csrf(page)}
            clips = re.findall(r'data-label="([A-Z0-9]+)" data-duration="([0-9.]+)"', page)
            for source in re.findall(r'<audio[^>]* src="([^"]+)"', page):
                self.go("GET", source, Range="bytes=0-")
            for name in set(re.findall(r'type="radio" name="([^"]+)"', page)):
                values = re.findall(rf'type="radio" name="{re.escape(name)}" value="([^"]+)"', page)
                form[name] = values[len(values) // 2]
            for label, duration in clips:
                form.update({f"plays_{label}": "1", f"seconds_{label}": duration, f"ended_{label}": "True"})
                form[f"events_{label}"] = f'[["play", 0], ["ended", {duration}]]'
            listening = sum(float(duration) for _, duration in clips) + _extra_wait
            time.sleep(max(0.0, shown + listening - time.monotonic()))
            return form

    @events.quitting.add_listener
    def _report_finished(environment, **kwargs) -> None:
        print(f"raters finished: {_finished['raters']}", file=sys.stderr)


# --- the driver -------------------------------------------------------------------------------------


def prepare(admin_url: str, scratch: Path, args) -> dict[str, str]:
    import psycopg

    name = "counterpoint_load"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    env = {
        "DATABASE_URL": admin_url.rsplit("/", 1)[0] + f"/{name}",
        "MEDIA_ROOT": str(scratch / "media"),
        "COUNTERPOINT_VAR_DIR": str(scratch / "var"),
        "DJANGO_SETTINGS_MODULE": "evalsite.settings",
        "OMP_NUM_THREADS": "1",
    }
    os.environ.update(env)
    os.environ.pop("DJANGO_DEBUG", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    return env


def write_manifest(folder: Path, prompts: int, variants: int, seconds: float) -> Path:
    folder.mkdir(parents=True)
    rate = 8000
    t = np.arange(int(rate * seconds)) / rate
    with (folder / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt_id", "prompt_text", "variant", "sample_index", "path"])
        for p in range(prompts):
            for v in range(variants):
                soundfile.write(
                    folder / f"{p}_{v}.wav", 0.2 * np.sin(2 * np.pi * (200 + p + 50 * v) * t), rate
                )
                writer.writerow([f"p{p:04d}", f"Prompt {p}", f"v{v}", 0, f"{p}_{v}.wav"])
    return folder / "manifest.csv"


def make_study(slug: str, scratch: Path, *, prompts: int, raters: int, args, **fields) -> list[str]:
    """A study of ``prompts`` items of ``args.variants`` clips with the given settings; its raters' tokens."""
    from ratings import services
    from ratings.models import Study

    manifest = write_manifest(scratch / slug, prompts, args.variants, args.clip_seconds)
    services.clips_import(study_slug=slug, manifest=manifest)
    Study.objects.filter(slug=slug).update(**fields)
    return [rater.token for rater in services.raters_invite(study=Study.objects.get(slug=slug), count=raters)]


class _Served:
    """A server process started by the benchmark: its whole process tree's CPU, and its stop."""

    process: subprocess.Popen

    def cpu_s(self) -> float:
        import psutil

        tree = psutil.Process(self.process.pid)
        total = 0.0
        for process in [tree, *tree.children(recursive=True)]:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class Server(_Served):
    """gunicorn pinned to the server's cores; its process tree's CPU seconds on demand."""

    def __init__(self, env: dict[str, str], cores: str, workers: int, threads: int, port: int = PORT):
        # benchmarks/gunicorn_timing.py: evalsite/gunicorn_conf.py plus a line per request (wall, CPU).
        self.timing = Path(env["COUNTERPOINT_VAR_DIR"]) / "timing"
        self.timing.mkdir(parents=True, exist_ok=True)
        command = [
            "taskset",
            "-c",
            cores,
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "benchmarks/gunicorn_timing.py",
        ]
        command += ["evalsite.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers), "--log-level", "warning"]
        if threads > 1:
            command += ["--worker-class", "gthread", "--threads", str(threads)]
        command += ["--access-logfile", "/dev/null"]  # formatted and redacted as in production, not kept
        # Django's warnings (a 404 or 403 answered) go to the server's log, not among the figures.
        self.log = Path(env["COUNTERPOINT_VAR_DIR"]) / "gunicorn.log"
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env, "REQUEST_TIMING_DIR": str(self.timing)},
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        import urllib.request

        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("gunicorn did not start within 120 s") from None
                time.sleep(0.2)

    def take_timings(self) -> dict[str, list[tuple[float, float]]]:
        """The server's own (wall, CPU) seconds per request since the last call, by endpoint."""
        by_kind: dict[str, list[tuple[float, float]]] = {}
        for path in self.timing.glob("*.tsv"):
            with path.open("r+") as handle:
                lines = handle.read().splitlines()
                handle.truncate(0)
            for line in lines:
                method, url, wall, cpu = line.split("\t")
                by_kind.setdefault(_kind_of(method, url), []).append((float(wall), float(cpu)))
        return by_kind


class Nginx(_Served):
    """Debian's nginx in front of gunicorn as deploy/nginx.conf sets it up (proxy buffering; audio by
    X-Accel-Redirect), on loopback, pinned to the server's cores, with the clips on the local file system:
    the /_audio/ location is deploy/nginx.conf's local-disk variant (an alias of MEDIA_ROOT)."""

    def __init__(self, env: dict[str, str], cores: str, listen: int, web: int):
        import shutil

        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(binary):
            raise SystemExit("--nginx: nginx is not installed (apt-get install -y nginx)")
        prefix = Path(env["COUNTERPOINT_VAR_DIR"]) / "nginx"
        prefix.mkdir(parents=True, exist_ok=True)
        server = (ROOT / "deploy" / "nginx.conf").read_text()
        for compose, here in (
            ("listen 80;", f"listen 127.0.0.1:{listen} backlog=4096;"),
            ("server web:8000;", f"server 127.0.0.1:{web};"),
        ):
            if compose not in server:
                raise SystemExit(f"deploy/nginx.conf no longer has {compose!r}")
            server = server.replace(compose, here)
        start = server.index("    location /_audio/ {")
        end = server.index("\n    }\n", start) + len("\n    }\n")
        media = Path(env["MEDIA_ROOT"]).resolve()
        media.parent.chmod(0o755)  # nginx started as root serves as nobody, who must reach the clips
        server = (
            server[:start]
            + f"    location /_audio/ {{ internal; alias {media}/; etag off; if_modified_since off;"
            + ' add_header Last-Modified ""; }\n'
            + server[end:]
        )
        temp = "\n".join(
            f"    {kind}_temp_path {prefix / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        self.config = prefix / "nginx.conf"
        self.config.write_text(
            f"daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
            "events { worker_connections 4096; }\n"
            f"http {{\n    access_log off;\n    include /etc/nginx/mime.types;\n{temp}\n{server}\n}}\n"
        )
        self.process = subprocess.Popen(
            [
                "taskset",
                "-c",
                cores,
                binary,
                "-p",
                str(prefix),
                "-c",
                str(self.config),
                "-e",
                str(prefix / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import socket

        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit(f"nginx did not start (see {prefix / 'error.log'})") from None
                time.sleep(0.1)


def run_locust(
    tokens: list[str], args, *, users: int, rate: float, run_time_s: int, items: int, prefix: Path
):
    """One headless locust run pinned to the generator's cores; its stats rows and its own CPU seconds."""
    tokens_file = prefix.with_suffix(".tokens")
    tokens_file.write_text("\n".join(tokens))
    env = {
        **os.environ,
        "LOAD_TOKENS": str(tokens_file),
        "LOAD_ITEMS": str(items),
        "LOAD_RATERS": str(users),
        "LOAD_EXTRA_WAIT": str(args.extra_wait),
        "LOAD_CLIENT": args.client,
    }
    command = [
        "taskset",
        "-c",
        args.client_cores,
        sys.executable,
        "-m",
        "locust",
        "-f",
        __file__,
        "--headless",
    ]
    command += ["-u", str(users), "-r", f"{rate:.3f}", "--run-time", f"{run_time_s}s", "--stop-timeout", "30"]
    command += [
        "--host",
        f"http://127.0.0.1:{PORT}",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    before = os.times()
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=run_time_s + 120
    )
    wall = time.monotonic() - started
    after = os.times()
    generator_cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    rows = {row["Name"]: row for row in csv.DictReader(io.StringIO(Path(f"{prefix}_stats.csv").read_text()))}
    failures = list(csv.DictReader(io.StringIO(Path(f"{prefix}_failures.csv").read_text())))
    finished = re.findall(r"raters finished: (\d+)", result.stderr)
    return rows, failures, generator_cpu, wall, int(finished[-1]) if finished else 0


def print_rows(rows: dict, timings: dict, names=ENDPOINTS) -> None:
    """Per endpoint, the client's latency (locust) and the server's own: wall from request parsed to
    last byte written, and the worker's CPU in it. Client minus server wall is time queued for a worker."""
    print(
        f"  {'endpoint':>16} {'n':>6} {'fail':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} |"
        f" {'server wall p50':>15} {'p95':>6} {'CPU p50':>8} {'p95':>6}"
    )
    for name in names:
        row = rows.get(name)
        if row:
            walls = sorted(w for w, _ in timings.get(name, [])) or [float("nan")]
            cpus = sorted(c for _, c in timings.get(name, [])) or [float("nan")]
            print(
                f"  {name:>16} {row['Request Count']:>6} {row['Failure Count']:>5} {row['50%']:>8} {row['95%']:>8} {row['99%']:>8} |"
                f" {1000 * _quantile(walls, 0.5):>15.1f} {1000 * _quantile(walls, 0.95):>6.1f}"
                f" {1000 * _quantile(cpus, 0.5):>8.1f} {1000 * _quantile(cpus, 0.95):>6.1f}"
            )


def timeline(prefix: Path, window: int = 10) -> str:
    """Raters present, requests per second and the p95 so far (locust's, of the whole run) per ``window`` s
    of the run: where the offered load passes what the server answers, p95 climbs."""
    rows = [
        row
        for row in csv.DictReader(io.StringIO(Path(f"{prefix}_stats_history.csv").read_text()))
        if row["Name"] == "Aggregated"
    ]
    parts = []
    for i in range(0, len(rows) - 1, window):
        j = min(i + window, len(rows) - 1)
        seconds = int(rows[j]["Timestamp"]) - int(rows[i]["Timestamp"]) or 1
        rate = (int(rows[j]["Total Request Count"]) - int(rows[i]["Total Request Count"])) / seconds
        parts.append(
            f"{int(rows[i]['Timestamp']) - int(rows[0]['Timestamp'])}s: {rows[j]['User Count']} raters, {rate:.0f}/s, p95 so far {rows[j]['95%']} ms"
        )
    return "; ".join(parts)


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def postgres_cpu_s() -> float:
    """CPU seconds of the local PostgreSQL server so far: the postmaster, its live backends and the ones
    that exited (reaped by the postmaster, so in its children's times). Other sessions' queries count too."""
    import psutil

    total = 0.0
    for process in psutil.process_iter(["name", "ppid"]):
        try:
            if (
                process.info["name"] != "postgres"
                or psutil.Process(process.info["ppid"]).name() == "postgres"
            ):
                continue
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
            for child in process.children():
                times = child.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def core_busy() -> list[tuple[float, float]]:
    """Per core, (busy, total) CPU seconds since boot, every process on the machine counted."""
    import psutil

    return [
        (t.user + t.nice + t.system + t.irq + t.softirq + t.steal, sum(t))
        for t in psutil.cpu_times(percpu=True)
    ]


def busy_since(before: list[tuple[float, float]]) -> str:
    after = core_busy()
    return ", ".join(
        f"core {i} {100 * (a[0] - b[0]) / max(a[1] - b[1], 1e-9):.0f}%"
        for i, (a, b) in enumerate(zip(after, before, strict=True))
    )


def coverage_invariant(slug: str) -> tuple[bool, str]:
    from django.db.models import Count, Q

    from ratings.models import Prompt, Study, Task, TaskStatus

    study = Study.objects.get(slug=slug)
    tasks = Task.objects.filter(kind="quality", prompt__study=study)
    most = max(
        tasks.values("prompt").annotate(n=Count("rater", distinct=True)).values_list("n", flat=True),
        default=0,
    )
    over = Prompt.objects.filter(study=study, quality_slots_taken__gt=study.raters_per_prompt).count()
    two_open = (
        tasks.values("rater")
        .annotate(n=Count("id", filter=Q(status=TaskStatus.OPEN)))
        .filter(n__gt=1)
        .count()
    )
    holds = over == 0 and most <= study.raters_per_prompt and two_open == 0
    submitted = tasks.filter(status=TaskStatus.SUBMITTED).count()
    return holds, (
        f"coverage invariant: {'holds' if holds else 'BROKEN'} (most raters on one prompt {most} of "
        f"N={study.raters_per_prompt}; raters with two open tasks {two_open}; submitted {submitted})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raters", type=int, default=300)
    parser.add_argument(
        "--arrival-s", type=float, default=60, help="All raters arrive within this many seconds."
    )
    parser.add_argument("--items", type=int, default=4, help="Items each rater rates.")
    parser.add_argument("--variants", type=int, default=3, help="Clips per item.")
    parser.add_argument("--clip-seconds", type=float, default=2.0)
    parser.add_argument(
        "--extra-wait", type=float, default=1.0, help="Seconds a rater waits beyond the clips."
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes.")
    parser.add_argument(
        "--threads", type=int, default=1, help="Threads per worker (more than 1: gunicorn's gthread workers)."
    )
    parser.add_argument(
        "--nginx",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="nginx in front as in production (deploy/nginx.conf): it buffers, and sends the audio through "
        "X-Accel-Redirect (default); --no-nginx: locust talks to gunicorn, which streams the audio itself.",
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=None,
        help="DATABASE_CONN_MAX_AGE for the server (default: evalsite/gunicorn_conf.py's, 60 s); 0 opens "
        "a PostgreSQL connection per request.",
    )
    parser.add_argument(
        "--server-cores", default="0", help="taskset list for gunicorn (PostgreSQL is not pinned)."
    )
    parser.add_argument("--client-cores", default="1", help="taskset list for locust.")
    parser.add_argument(
        "--client",
        choices=["fast", "requests"],
        default="fast",
        help="locust's FastHttpUser (geventhttpclient) or HttpUser (python-requests: rounds before 9).",
    )
    parser.add_argument(
        "--steps", default="10,20,40,80", help="Concurrent raters of each saturation step ('' skips it)."
    )
    parser.add_argument("--step-s", type=int, default=40, help="Seconds of each saturation step.")
    parser.add_argument("--p95-ms", type=float, default=200.0)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="rater-load-"))
    env = prepare(args.postgres, scratch, args)
    import django

    django.setup()
    raters_per_prompt = 3
    prompts = -(-args.raters * args.items // raters_per_prompt) + 5
    tokens = make_study(
        "load",
        scratch,
        prompts=prompts,
        raters=args.raters,
        args=args,
        onboarding_required=True,
        raters_per_prompt=raters_per_prompt,
        max_items_per_rater=args.items,
    )
    steps = [int(s) for s in args.steps.split(",") if s.strip()]
    # The saturation steps' study: no onboarding, and items that never fill (each rater may rate every one).
    step_tokens = (
        make_study(
            "saturation",
            scratch,
            prompts=60,
            raters=sum(steps),
            args=args,
            raters_per_prompt=30000,
            session_minutes=0,
        )
        if steps
        else []
    )
    server_cores = len(os.sched_getaffinity(0) & {int(c) for c in _cores(args.server_cores)})
    if args.conn_max_age is not None:
        env["DATABASE_CONN_MAX_AGE"] = str(args.conn_max_age)
    else:
        os.environ.pop("DATABASE_CONN_MAX_AGE", None)  # evalsite/gunicorn_conf.py's default
    if args.nginx:
        env["AUDIO_X_ACCEL_PREFIX"] = "/_audio/"
    server = Server(env, args.server_cores, args.workers, args.threads, port=PORT + 1 if args.nginx else PORT)
    proxy = Nginx(env, args.server_cores, PORT, PORT + 1) if args.nginx else None

    def serving_cpu() -> float:  # gunicorn's process tree, and nginx's when in front
        return server.cpu_s() + (proxy.cpu_s() if proxy else 0.0)

    load_before = os.getloadavg()
    try:
        server.take_timings()
        cpu_before, postgres_before, cores_before = serving_cpu(), postgres_cpu_s(), core_busy()
        run_time = int(
            args.arrival_s + args.items * (args.variants * args.clip_seconds + args.extra_wait) * 3 + 60
        )
        rows, failures, generator_cpu, wall, finished = run_locust(
            tokens,
            args,
            users=args.raters,
            rate=args.raters / args.arrival_s,
            run_time_s=run_time,
            items=args.items,
            prefix=scratch / "study",
        )
        server_cpu = serving_cpu() - cpu_before
        postgres_cpu, busy = postgres_cpu_s() - postgres_before, busy_since(cores_before)
        print(
            f"study: {args.raters} raters arriving over {args.arrival_s:g} s, {args.items} items of {args.variants} "
            f"{args.clip_seconds:g}-s clips each, locust's {'FastHttpUser' if args.client == 'fast' else 'HttpUser'}; gunicorn -w {args.workers} --threads {args.threads} on cores "
            f"{args.server_cores}{' behind nginx (audio by X-Accel-Redirect)' if proxy else ''}, CONN_MAX_AGE={'60 (gunicorn_conf)' if args.conn_max_age is None else args.conn_max_age}, locust on cores {args.client_cores}; load "
            f"average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}"
        )
        print_rows(rows, server.take_timings())
        total = rows.get("Aggregated", {})
        print(
            f"  {total.get('Request Count', 0)} requests in {wall:.0f} s, {finished} raters finished; errors: "
            f"{sum(int(f['Occurrences']) for f in failures)} {[f['Error'][:80] for f in failures[:3]]}"
        )
        print(
            f"  generator CPU {generator_cpu:.1f} s ({100 * generator_cpu / wall:.0f}% of a core); server CPU {server_cpu:.1f} s;"
            f" PostgreSQL CPU {postgres_cpu:.1f} s (all its clients); machine: {busy}"
        )
        print(f"  per {10} s: {timeline(scratch / 'study')}")
        holds, line = coverage_invariant("load")
        print(line)
        study_errors = len(failures)

        best, crossed = 0.0, False
        for users in steps:
            batch, step_tokens = step_tokens[:users], step_tokens[users:]
            server.take_timings()
            cpu_before, postgres_before, cores_before = serving_cpu(), postgres_cpu_s(), core_busy()
            rows, failures, generator_cpu, wall, _ = run_locust(
                batch,
                args,
                users=users,
                rate=max(users / 5, 1),
                run_time_s=args.step_s,
                items=1000,
                prefix=scratch / f"step{users}",
            )
            server_cpu = serving_cpu() - cpu_before
            postgres_cpu, busy = postgres_cpu_s() - postgres_before, busy_since(cores_before)
            cycles = int(rows.get("submit", {}).get("Request Count", 0)) / args.step_s
            worst = max(
                (float(rows[name]["95%"]) for name in RATER_ENDPOINTS if name in rows), default=float("inf")
            )
            print(
                f"step: {users} raters looping items for {args.step_s} s: {cycles:.2f} cycles/s, worst p95 {worst:.0f} ms, "
                f"server CPU {server_cpu:.1f} s, generator CPU {generator_cpu:.1f} s, errors "
                f"{sum(int(f['Occurrences']) for f in failures)}, PostgreSQL CPU {postgres_cpu:.1f} s, load average "
                f"{os.getloadavg()[0]:.1f}; {busy}"
            )
            print_rows(rows, server.take_timings(), RATER_ENDPOINTS)
            if worst < args.p95_ms and not failures:
                best = max(best, cycles)
            else:
                crossed = True
                break
        if steps and best:
            # a lower bound unless a step crossed the limit: every step tried may have stayed under it
            bound = "" if crossed else "at least "
            print(
                f"saturation point: {bound}{best / server_cores:.2f} rating cycles per second per server core "
                f"(p95 < {args.p95_ms:g} ms on {', '.join(RATER_ENDPOINTS)}; {server_cores} server core(s))"
                + ("" if crossed else "; every step stayed under the limit, so try larger --steps")
            )
        elif steps:
            print(f"saturation point: below the first step; p95 was {args.p95_ms:g} ms or more from it on")
    finally:
        server.stop()
        if proxy:
            proxy.stop()
    sys.exit(0 if holds and not study_errors else 1)


def _cores(spec: str) -> list[int]:
    cores: list[int] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        cores += list(range(int(first), int(last or first) + 1))
    return cores


if __name__ == "__main__":
    main()
