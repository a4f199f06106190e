"""The boundaries the architecture holds to, checked in fresh interpreters."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_web_process_serves_pages_and_urls_without_importing_torch():
    result = _run(
        "import os, sys\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'evalsite.settings')\n"
        "from django.core.wsgi import get_wsgi_application\n"
        "get_wsgi_application()\n"
        "import django.urls, evalsite.celery\n"
        "django.urls.get_resolver().url_patterns\n"
        "from django.apps import apps\n"
        "for config in apps.get_app_configs():\n"
        "    config.import_models()\n"
        "import importlib, pkgutil\n"
        "for package in ('formats', 'ratings', 'jobs', 'reports', 'launches'):\n"
        "    root = importlib.import_module(package)\n"
        "    for module in pkgutil.walk_packages(root.__path__, package + '.'):\n"
        "        if '.migrations' not in module.name and '.tests' not in module.name:\n"
        "            importlib.import_module(module.name)\n"
        "import jobs.tasks, launches.tasks\n"
        "print('torch' in sys.modules)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_ml_core_and_the_statistics_import_without_django():
    result = _run(
        "import importlib, pkgutil, sys\n"
        "for package in ('generation', 'analysis', 'formats'):\n"
        "    root = importlib.import_module(package)\n"
        "    for module in pkgutil.walk_packages(root.__path__, package + '.'):\n"
        "        if module.name in ('generation.__main__', 'analysis.__main__'):\n"
        "            continue\n"
        "        importlib.import_module(module.name)\n"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
