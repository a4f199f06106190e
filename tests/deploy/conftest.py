"""Real servers on loopback for the deployment tests: an S3-compatible server (moto's standalone server)
and Debian's nginx in front of a Django live server, each started on a free port, bounded, torn down."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "counterpoint-media"  # the bucket deploy/nginx.conf proxies to
READ_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{BUCKET}/*"],
        }
    ],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"{process.args[0]} exited with {process.returncode} before listening on {port}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listened on 127.0.0.1:{port} within {seconds} s")


def wait_until_answers(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited with {process.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers, whatever it says
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered {url} within {seconds} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def env(self) -> dict[str, str]:
        """The environment of a process of ours whose clips live in this server's bucket."""
        return {
            "COUNTERPOINT_STORAGE": "s3",
            "S3_BUCKET": BUCKET,
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_REGION": "us-east-1",
            "S3_ACCESS_KEY_ID": "test",
            "S3_SECRET_ACCESS_KEY": "test",
            "S3_ADDRESSING_STYLE": "path",
        }

    def objects(self) -> dict[str, bytes]:
        client = self.client()
        listing = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return {
            item["Key"]: client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listing
        }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's standalone S3 server on a free loopback port, with an empty bucket."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install -e '.[dev]')")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/moto-api/", process)
        server = S3Server(f"http://127.0.0.1:{port}")
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        # As docker-compose's minio-init does: anyone who reaches the server may read the bucket (nginx,
        # without credentials); in compose only the internal network does.
        client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(READ_POLICY))
        yield server
    finally:
        stop(process)


@pytest.fixture
def s3_storage(settings, s3_server) -> S3Server:
    """This process's default storage in the S3 server's bucket, as COUNTERPOINT_STORAGE=s3 sets it."""
    client = s3_server.client()
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    env = s3_server.env()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": env["S3_ENDPOINT_URL"],
                "region_name": env["S3_REGION"],
                "access_key": env["S3_ACCESS_KEY_ID"],
                "secret_key": env["S3_SECRET_ACCESS_KEY"],
                "addressing_style": "path",
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }
    return s3_server


@dataclass(frozen=True)
class Nginx:
    url: str
    access_log: Path


def nginx_conf(*, listen: int, web: str, s3: str, prefix: Path) -> str:
    """deploy/nginx.conf as docker-compose runs it, pointed at loopback servers, inside a main
    configuration that keeps every file of nginx's under ``prefix``."""
    server = (ROOT / "deploy" / "nginx.conf").read_text()
    for compose_name, here in (
        ("listen 80;", f"listen 127.0.0.1:{listen};"),
        ("server web:8000;", f"server {web};"),
        ("http://minio:9000/", f"{s3}/"),
    ):
        assert compose_name in server, f"deploy/nginx.conf no longer has {compose_name!r}"
        server = server.replace(compose_name, here)
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n    access_log {prefix / 'access.log'};\n{temp}\n{server}\n}}\n"
    )


@pytest.fixture
def nginx(live_server, s3_storage, tmp_path) -> Iterator[Nginx]:
    """Debian's nginx with deploy/nginx.conf on a free loopback port, in front of the live server and
    proxying audio from the S3 server."""
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if binary is None:
        if os.environ.get("CI"):
            raise AssertionError("nginx is not installed (apt-get install -y nginx)")
        pytest.skip(
            "nginx is not installed (apt-get install -y nginx): the X-Accel-Redirect path is untested"
        )
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = free_port()
    config = prefix / "nginx.conf"
    config.write_text(
        nginx_conf(
            listen=port, web=live_server.url.removeprefix("http://"), s3=s3_storage.endpoint, prefix=prefix
        )
    )
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_listening(port, process, seconds=20)
        yield Nginx(f"http://127.0.0.1:{port}", prefix / "access.log")
    finally:
        stop(process)


# The tiny base model the jobs tests train (seconds), for a GPU worker to render clips with.
from tests.jobs.conftest import tiny_checkpoint_name  # noqa: E402, F401
