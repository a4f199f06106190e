"""The task kinds, registered by name. Adding a kind: one module with a TaskKind subclass (see
base.py), its template block under jinja2/ratings/kinds/, and one line below."""

from .base import ClipListening, ImportRow, Slot, Submission, TaskKind
from .diversity import DiversityKind, DiversitySubmission
from .quality import QualityKind, QualitySubmission

KINDS: dict[str, TaskKind] = {kind.name: kind for kind in (QualityKind(), DiversityKind())}


def kind_of(name: str) -> TaskKind:
    """The registered kind of that name; ValueError naming the known ones otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown task kind {name!r}; the kinds are {', '.join(KINDS)}") from None


__all__ = [
    "KINDS",
    "ClipListening",
    "DiversitySubmission",
    "ImportRow",
    "QualitySubmission",
    "Slot",
    "Submission",
    "TaskKind",
    "kind_of",
]
