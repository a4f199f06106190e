"""Celery tasks of study launches: thin wrappers around launches.services. Torch loads inside a step's
work (generation.steps), never at import, so the web process can import this module."""

import traceback

from celery import shared_task

from launches import services


@shared_task(bind=True, name="launches.run_step", acks_late=True, reject_on_worker_lost=True)
def run_step(self, step_id: int) -> str:
    step = services.step_claim(step_id=step_id, task_id=self.request.id or "eager")
    if step is None:
        return "skipped: done, cancelled, waiting for its inputs, or held by another run"
    try:
        result = services.step_execute(step=step)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the step, with its cause
        services.step_fail(step=step, error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")
        return "failed"
    services.step_succeed(step=step, result=result)
    return "succeeded"


@shared_task(name="launches.layer_done")
def layer_done(launch_id: str, layer: int) -> str:
    """Closes a layer of a launch's canvas (the body of its chord); the steps themselves record progress."""
    return f"launch {launch_id}: layer {layer} done"


@shared_task(name="launches.sweep")
def sweep() -> list[str]:
    """Periodic (celery beat, and the local demo worker's -B): sends again what died or was lost."""
    return services.launch_sweep()
