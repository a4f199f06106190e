"""The refusals of the services: each message says what was wrong and what to do."""

from collections.abc import Iterable


class ServiceError(ValueError):
    """A request the platform refuses; the message says what was wrong and what to do."""


class ImportFailed(ServiceError):
    pass


class RaterExcluded(ServiceError):
    pass


class SubmissionRejected(ServiceError):
    def __init__(self, message: str, problems: Iterable[str] = ()):
        super().__init__(message)
        self.problems = list(problems) or [message]


class EntryRefused(ServiceError):
    pass


class EntryNotResumable(EntryRefused):
    """A returning participant who cannot show they are the one who entered first."""
