"""gunicorn's settings for the web process (``gunicorn -c evalsite/gunicorn_conf.py evalsite.wsgi``):
an access log on stdout without rater secrets (see evalsite.redaction)."""

from gunicorn.glogging import Logger

from evalsite.redaction import redact

accesslog = "-"


class RedactingLogger(Logger):
    """gunicorn's logger whose access-log fields (request line, path, query, referrer, headers) carry
    no rater token."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}


logger_class = RedactingLogger
