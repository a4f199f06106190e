"""50 simulated raters against the platform served on loopback with PostgreSQL.

Starts gunicorn on 127.0.0.1 with a fresh PostgreSQL database, lets RATERS threads each walk
request-next → task page → its audio → submit for at most ITEMS items (a bounded number of requests), then
prints p50/p95 latency per endpoint, requests per second, and re-checks the coverage invariant
(no prompt past N raters, nobody with two open assignments).

    python benchmarks/rater_load.py [--raters 50] [--items 4] [--workers 3]
"""

import argparse
import csv
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import psycopg
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "counterpoint_bench"
PORT = 8765


def prepare_database(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DB_NAME}")
    return admin_url.rsplit("/", 1)[0] + f"/{DB_NAME}"


def write_clips(folder: Path, prompts: int, variants: int) -> Path:
    rate = 16000
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt_id", "prompt_text", "variant", "sample_index", "path"])
        for p in range(prompts):
            for v in range(variants):
                t = np.arange(rate) / rate
                name = f"{p}_{v}.wav"
                soundfile.write(folder / name, 0.2 * np.sin(2 * np.pi * (200 + p + 50 * v) * t), rate)
                writer.writerow([f"p{p:03d}", f"Prompt {p}", f"v{v}", 0, name])
    return manifest


class Rater(threading.Thread):
    def __init__(self, token: str, items: int, timings: dict[str, list[float]], lock: threading.Lock):
        super().__init__()
        self.token, self.items, self.timings, self.lock = token, items, timings, lock
        self.cookies: dict[str, str] = {}
        self.errors: list[str] = []
        self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)

    def request(self, endpoint: str, method: str, path: str, body: str | None = None):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers.update(
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Referer": f"http://127.0.0.1:{PORT}{path}",
                }
            )
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        content = response.read().decode(errors="replace")  # an audio body is not text
        elapsed = time.perf_counter() - started
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        with self.lock:
            self.timings[endpoint].append(elapsed)
        return response.status, response.getheader("Location"), content

    def run(self) -> None:
        try:
            for _ in range(self.items):
                status, location, _ = self.request("next", "GET", f"/r/{self.token}/next/")
                if status != 302 or "/done/" in location:
                    return
                status, _, page = self.request("task", "GET", location)
                if status != 200:
                    self.errors.append(f"task page {status}")
                    return
                for source in re.findall(r'<audio[^>]* src="([^"]+)"', page):  # as the player preloads it
                    status, _, _ = self.request("audio", "GET", source)
                    if status != 200:
                        self.errors.append(f"audio {status}")
                        return
                csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
                form = {"csrfmiddlewaretoken": csrf}
                for label, duration in re.findall(r'data-label="([A-Z]+)" data-duration="([0-9.]+)"', page):
                    for criterion in ("acoustic_quality", "text_adherence", "musicality"):
                        form[f"score_{label}_{criterion}"] = "3"
                    form.update(
                        {f"plays_{label}": "1", f"seconds_{label}": duration, f"ended_{label}": "True"}
                    )
                status, _, _ = self.request("submit", "POST", location, urlencode(form))
                if status != 302:
                    self.errors.append(f"submit {status}")
                    return
        except Exception as exc:  # noqa: BLE001 - reported at the end
            self.errors.append(repr(exc))


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--items", type=int, default=4, help="Items each rater rates at most.")
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes.")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    database_url = prepare_database(args.postgres)
    scratch = Path(tempfile.mkdtemp(prefix="rater-load-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(scratch / "media"),
        "COUNTERPOINT_VAR_DIR": str(scratch / "var"),
        "DJANGO_SETTINGS_MODULE": "evalsite.settings",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    from ratings import services
    from ratings.models import Prompt, Study, Task, TaskStatus

    (scratch / "clips").mkdir()
    services.clips_import(study_slug="load", manifest=write_clips(scratch / "clips", args.prompts, 3))
    study = Study.objects.get(slug="load")
    # The raters answer as soon as the audio is loaded: no waiting out the clips' time.
    Study.objects.filter(pk=study.pk).update(min_task_seconds=0)
    tokens = [r.token for r in services.raters_invite(study=study, count=args.raters)]

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "evalsite.wsgi",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request("GET", "/admin/login/")
                break
            except OSError:
                time.sleep(0.1)
        timings: dict[str, list[float]] = defaultdict(list)
        lock = threading.Lock()
        raters = [Rater(token, args.items, timings, lock) for token in tokens]
        started = time.perf_counter()
        for rater in raters:
            rater.start()
        for rater in raters:
            rater.join()
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()

    errors = [error for rater in raters for error in rater.errors]
    total = sum(len(v) for v in timings.values())
    print(
        f"raters: {args.raters}  items per rater: ≤{args.items}  gunicorn workers: {args.workers}  cores: {os.cpu_count()}"
    )
    for endpoint in ("next", "task", "audio", "submit"):
        values = timings[endpoint]
        print(
            f"{endpoint:>7}: n={len(values):4d}  p50={1000 * percentile(values, 50):7.1f} ms  "
            f"p95={1000 * percentile(values, 95):7.1f} ms"
        )
    print(
        f"requests: {total} in {wall:.1f} s = {total / wall:.1f} requests/s; errors: {len(errors)} {errors[:3]}"
    )

    over = Prompt.objects.filter(study=study, quality_slots_taken__gt=study.raters_per_prompt).count()
    assigned = Task.objects.filter(kind="quality").filter(prompt__study=study)
    per_prompt = defaultdict(int)
    for prompt_id in assigned.values_list("prompt_id", flat=True):
        per_prompt[prompt_id] += 1
    open_per_rater = defaultdict(int)
    for rater_id in assigned.filter(status=TaskStatus.OPEN).values_list("rater_id", flat=True):
        open_per_rater[rater_id] += 1
    invariant = (
        over == 0
        and max(per_prompt.values()) <= study.raters_per_prompt
        and max(open_per_rater.values(), default=0) <= 1
    )
    print(
        f"coverage invariant: {'holds' if invariant else 'BROKEN'} (max raters per prompt "
        f"{max(per_prompt.values())} of N={study.raters_per_prompt}, submitted "
        f"{assigned.filter(status=TaskStatus.SUBMITTED).count()})"
    )
    sys.exit(0 if invariant and not errors else 1)


if __name__ == "__main__":
    main()
