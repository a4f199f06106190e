"""Reads of study launches: what the page, the API and the command show."""

from typing import Any

from launches.models import StudyLaunch


def launch_status(*, launch: StudyLaunch) -> dict[str, Any]:
    """The launch and each step's state, progress and error, in plan order (one query for the steps)."""
    steps = list(launch.steps.order_by("position"))
    done = sum(s.status == "succeeded" for s in steps)
    return {
        "id": str(launch.pk),
        "study": launch.study_slug,
        "status": launch.status,
        "error": launch.error,
        "cost": launch.cost,
        "created_at": launch.created_at,
        "started_at": launch.started_at,
        "finished_at": launch.finished_at,
        "steps_done": done,
        "steps_total": len(steps),
        "steps": [
            {
                "key": s.key,
                "kind": s.kind,
                "name": s.name,
                "queue": s.queue,
                "status": s.status,
                "progress": s.progress,
                "note": s.note,
                "error": s.error.splitlines()[0] if s.error else "",
                "attempts": s.attempts,
            }
            for s in steps
        ],
    }
