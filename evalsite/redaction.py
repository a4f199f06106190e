"""Rater secrets kept out of logs and error reports.

A rater's invite token is the rater's password, and it travels in every URL of the rater's pages
(``/r/<token>/…``), as do the item tokens that open a task. A log line or an error e-mail that
carries them hands the rater's session to whoever reads it. Prolific participant and session ids
identify a person, so they go too.
"""

import logging
import re

from django.views.debug import ExceptionReporter

REDACTED = "[redacted]"
PARTICIPANT_PARAMETERS = ("PROLIFIC_PID", "SESSION_ID")
_SECRETS = re.compile(
    r"(?P<keep>/r/)[^/\s?#\"'<>&]+"  # the rater's token in a rater URL
    r"|(?P<keep_param>\b(?:PROLIFIC_PID|SESSION_ID)=)[^&\s\"'<>#]*"  # a participant's Prolific ids
    # any other token: secrets.token_urlsafe(24) is exactly 32 URL-safe characters
    r"|(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])"
)


def redact(text: str) -> str:
    """The text with rater and item tokens and Prolific ids replaced by ``[redacted]``."""
    return _SECRETS.sub(lambda m: (m.group("keep") or m.group("keep_param") or "") + REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    """A handler filter that rewrites each record's message without rater secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class RedactingExceptionReporter(ExceptionReporter):
    """Django's error report (the DEBUG page and the e-mail to ADMINS) without rater secrets: the
    URL, the request's META and the traceback's local variables all carry the token."""

    def _redact(self, text: str) -> str:
        secrets = []
        if self.request is not None:
            match = getattr(self.request, "resolver_match", None)
            kwargs = match.kwargs if match else {}
            secrets += [value for name, value in kwargs.items() if name.endswith("token")]
            secrets += [self.request.GET.get(name) for name in PARTICIPANT_PARAMETERS]
        for secret in secrets:
            if isinstance(secret, str) and secret:
                text = text.replace(secret, REDACTED)
        return redact(text)

    def get_traceback_html(self) -> str:
        return self._redact(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return self._redact(super().get_traceback_text())
