"""gunicorn's settings for the web process (``gunicorn -c evalsite/gunicorn_conf.py evalsite.wsgi``):
an access log on stdout without rater secrets (see evalsite.redaction), and workers that have imported
everything before they serve.

The app is loaded once in the master (``preload_app``) and warmed up there (every URL's view module,
every template of ours compiled, the translation catalogues, the headphone check's sounds), before the
workers are forked: each
worker starts with all of it in memory, shared copy-on-write, instead of spending its first request on
imports (benchmarks/request_cpu.py --first-request measures it). No database connection is opened in
the master, so none is shared by the forked workers.

Each worker keeps its PostgreSQL connection between requests (``DATABASE_CONN_MAX_AGE`` 60 s unless the
environment sets it): a connection per request costs PostgreSQL a new backend process each time, more CPU
than the request itself (benchmarks/rater_load.py: 113 s of PostgreSQL CPU for 12,870 requests at 0, 17.5 s
at 600). Set here, not in the settings, so that only the web process holds connections open; a sync
worker holds one, so PostgreSQL's max_connections bounds the workers of all web processes together.
"""

import functools
import gc
import itertools
import os
import re
from pathlib import Path

from gunicorn.glogging import Logger

from evalsite.redaction import redact

accesslog = "-"
preload_app = True
gc.disable()  # while the master loads the app; see freeze_loaded
# Read when the settings load, in the master (preload_app), after this file: see the docstring.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")


class RedactingLogger(Logger):
    """gunicorn's logger whose access-log fields (request line, path, query, referrer, headers) carry
    no rater token. Only the fields the log's format prints are rewritten, the line being made of
    nothing else: rewriting all of them (every request and response header among them) was 3% of a
    worker's CPU under load (benchmarks/rater_load.py, the worker sampled with py-spy). A handler that
    logged the record's arguments themselves (a JSON log through logconfig_dict) would need them all
    redacted again."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in printed_atoms(self.cfg.access_log_format):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms


@functools.cache
def printed_atoms(log_format: str) -> tuple[str, ...]:
    """The atoms an access-log format prints (``%(r)s``, ``%({x-forwarded-for}i)s``…), as gunicorn
    looks them up: header, environ and response-header atoms by their lower-case name."""
    keys = re.findall(r"%\(([^)]+)\)", log_format)
    return tuple(dict.fromkeys(key.lower() if key.startswith("{") else key for key in keys))


logger_class = RedactingLogger


def warm_up() -> int:
    """Import what a first request would: the URL patterns (and so every view module), our templates
    (compiled into each engine's cache: Django's cached loader, Jinja2's environment), the active
    language's catalogues. Returns the templates loaded."""
    from django.conf import settings
    from django.db import connections
    from django.template import engines
    from django.template.loader import get_template
    from django.urls import get_resolver
    from django.utils import translation

    get_resolver().reverse_dict  # noqa: B018 - populating it imports every view module
    ours = Path(settings.BASE_DIR)
    loaded = 0
    for engine in engines.all():
        for folder in engine.template_dirs:
            folder = Path(folder)
            if not folder.is_relative_to(ours):
                continue  # Django's admin and the libraries' templates load when a staff page asks
            for template in folder.rglob("*.html"):
                get_template(template.relative_to(folder).as_posix())
                loaded += 1
    with translation.override(settings.LANGUAGE_CODE):
        translation.gettext("Home")
    from ratings.headphones import trial_wav

    for quiet, antiphase in itertools.permutations(range(3), 2):  # the headphone check's six sounds
        trial_wav(quiet, antiphase)
    connections.close_all()
    return loaded


def when_ready(server) -> None:
    """In the master, once the app is loaded and before any worker is forked: warm up, then move
    everything loaded so far out of the garbage collector's sight (``gc.freeze``)."""
    server.log.info("warmed up: %d templates compiled before the workers fork", warm_up())
    freeze_loaded()


def freeze_loaded() -> int:
    """Keep what the master loaded (Django, the URL patterns, the compiled templates, the headphone
    sounds: about 190,000 objects) out of every later collection, as Python's ``gc`` documentation
    advises for a process that forks without exec: the collector had been part of the web process's
    CPU (15% of benchmarks/request_cpu.py's), each full collection walking all of them again, and each
    worker's collections writing to pages it shares copy-on-write with the master. The collector was
    off while the master loaded (this file's top), so no collection left holes among those pages; it is
    on again from the freeze, in the master and in every worker forked after it. The objects frozen."""
    gc.collect()
    gc.freeze()
    gc.enable()  # the workers inherit it on; what was frozen is never scanned or freed, so no holes
    return gc.get_freeze_count()
