"""What the launch commands share: following a launch in the terminal until its study opens."""

import time
from collections.abc import Callable

from . import selectors
from .models import LaunchStatus, StudyLaunch


class LaunchNotOpen(RuntimeError):
    pass


def launch_follow(launch: StudyLaunch, write: Callable[[str], object], timeout: float) -> None:
    """Print each step's state as it changes until the study opens; LaunchNotOpen if it fails, is
    cancelled, or is still running after ``timeout`` seconds."""
    deadline, shown = time.monotonic() + timeout, {}
    while True:
        launch.refresh_from_db()
        status = selectors.launch_status(launch=launch)
        for step in status["steps"]:
            line = f"{step['status']} {step['note']}".strip()
            if step["status"] != "pending" and shown.get(step["key"]) != line:
                shown[step["key"]] = line
                write(f"  [{status['steps_done']}/{status['steps_total']}] {step['name']}: {line}")
        if launch.status == LaunchStatus.OPEN:
            write(f"study {launch.study_slug} is open for raters")
            return
        if launch.status in (LaunchStatus.FAILED, LaunchStatus.CANCELLED):
            raise LaunchNotOpen(f"launch {launch.status}: {launch.error or 'cancelled'}")
        if time.monotonic() > deadline:
            raise LaunchNotOpen(
                f"launch {launch.pk} still running after {timeout:.0f} s: is a worker running? "
                "(celery -A evalsite worker -Q gpu,default)"
            )
        time.sleep(0.5)
