"""evalsite/gunicorn_conf.py: the master loads and warms the app before forking, without torch and
without a database connection the workers would share, and freezes what it loaded for the collector."""

import json
import os
import subprocess
import sys

from tests.deploy.conftest import ROOT

WARM_UP = (
    "import json, sys, django; django.setup()\n"
    "import runpy; conf = runpy.run_path('evalsite/gunicorn_conf.py')\n"
    "from django.db import connection\n"
    "loaded = conf['warm_up']()\n"
    "import gc; collecting_while_loading = gc.isenabled(); frozen = conf['freeze_loaded']()\n"
    "print(json.dumps({'preload': conf['preload_app'], 'templates': loaded, 'torch': 'torch' in sys.modules,\n"
    "  'collecting_while_loading': collecting_while_loading, 'frozen': frozen, 'worker_collects': gc.isenabled(),\n"
    "  'views': 'ratings.views' in sys.modules and 'launches.views' in sys.modules,\n"
    "  'connected': connection.connection is not None}))\n"
)


def test_the_master_imports_every_view_and_compiles_our_templates_before_forking(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "evalsite.settings", "COUNTERPOINT_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", WARM_UP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["preload"] and found["views"] and found["templates"] >= 20
    assert not found["torch"] and not found["connected"]
    # what the master loaded is kept out of the workers' collections, and each worker collects again
    assert not found["collecting_while_loading"] and found["frozen"] > 50_000 and found["worker_collects"]


def test_the_web_process_keeps_its_database_connections_unless_told_otherwise(tmp_path):
    script = (
        "import os, runpy; runpy.run_path('evalsite/gunicorn_conf.py')\n"
        "import django; django.setup()\n"
        "from django.db import connection; print(connection.settings_dict['CONN_MAX_AGE'])\n"
    )
    base = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "evalsite.settings",
        "COUNTERPOINT_VAR_DIR": str(tmp_path),
    }
    base.pop("DATABASE_CONN_MAX_AGE", None)
    for env, expected in ((base, "60"), ({**base, "DATABASE_CONN_MAX_AGE": "0"}, "0")):
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip().splitlines()[-1] == expected
