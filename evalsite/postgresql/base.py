"""Django's PostgreSQL backend, its check of a kept connection made without a round trip.

gunicorn's workers keep their connection between requests (``DATABASE_CONN_MAX_AGE``, 60 s: see
evalsite/gunicorn_conf.py), and the settings check a kept connection before a request uses it
(``CONN_HEALTH_CHECKS``), so that a database that restarted costs no request an error. Django's check is
a ``SELECT 1``: one round trip to PostgreSQL before every request. Under a study's launch that was the
largest single wait of a worker (18% of its wall time, sampled with py-spy under benchmarks/rater_load.py:
a sync worker waits for PostgreSQL, on another core, once per statement), on requests that run 2–7
statements of their own.

Here the check looks at the connection's socket instead. Between requests a kept connection is idle and
PostgreSQL sends it nothing, so a socket with something to read means the server has ended it: a
restart, ``pg_terminate_backend``, ``idle_session_timeout`` and a proxy's reset all send an error and
close, which makes the socket readable at once. Such a connection, or one psycopg already knows is
closed or broken, is closed, and the request opens a new one. Anything else unexpected on the socket (a
notice, a parameter report after a configuration reload) closes a connection that may still have worked:
a reconnect, never an error. What neither check sees quickly is a peer that vanished without a word (a
cable cut): a ``SELECT 1`` would then wait for TCP to give up, as the request's own first statement does
here.

After a request that failed with a database error other than an integrity or data error, Django still
runs its ``SELECT 1`` (``is_usable``, unchanged), as that failure can leave the protocol in any state.
"""

import select

import psycopg
from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus

# The socket states that say a kept connection was ended: readable (the server's goodbye, or EOF) or
# hung up or in error.
_ENDED = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | select.POLLNVAL


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if self.pool or self.connection is None or not self.health_check_enabled or self.health_check_done:
            super().close_if_health_check_failed()  # (Django's own: the pool checks its connections)
            return
        if not connection_stands(self.connection):
            self.close()
        self.health_check_done = True


def connection_stands(connection: psycopg.Connection) -> bool:
    """Whether a kept, idle psycopg connection still stands, judged from its socket (no round trip)."""
    if connection.closed or connection.broken:
        return False
    if connection.info.transaction_status not in (TransactionStatus.IDLE, TransactionStatus.INTRANS):
        return False
    try:
        poller = select.poll()  # (not select.select: it refuses descriptors past FD_SETSIZE)
        poller.register(connection.fileno(), _ENDED)
        return not poller.poll(0)
    except (OSError, ValueError, psycopg.Error):  # a descriptor already gone
        return False
