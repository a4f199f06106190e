"""A launch's steps as a Celery canvas: a chain of layers, each layer a group of the steps whose inputs
the layers before it make. Training and generation go to the ``gpu`` queue, the light steps to ``default``.

Each group is closed by a light ``layer_done`` task, so the canvas is a chain of chords (group, then one
task) joined through the result backend. A group chained straight to the next group is a chord whose body
is a group, which Celery 5 and django-celery-results mishandle (duplicate runs and a unique-constraint
error on the chord counter: celery/celery#8662)."""

from celery import chain, group
from django.utils import timezone

from launches.models import LaunchStep, StepStatus, StudyLaunch


def workflow_layers(steps: list[LaunchStep]) -> list[list[LaunchStep]]:
    """The steps in layers: a step's layer is one past the deepest of its inputs (plan order kept)."""
    depth: dict[str, int] = {}
    for step in sorted(steps, key=lambda s: s.position):  # the plan lists inputs before their users
        depth[step.key] = 1 + max((depth[key] for key in step.inputs if key in depth), default=-1)
    layers: list[list[LaunchStep]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for step in sorted(steps, key=lambda s: s.position):
        layers[depth[step.key]].append(step)
    return layers


def workflow_build(launch: StudyLaunch):
    """The canvas of what is left to do; steps already done are skipped."""
    from launches.tasks import run_step

    left = list(launch.steps.exclude(status=StepStatus.SUCCEEDED))
    layers = [
        [run_step.si(step.pk).set(queue=step.queue) for step in layer]
        for layer in workflow_layers(left)
        if layer
    ]
    return chain(*(group(layer) if len(layer) > 1 else layer[0] for layer in layers))


def workflow_send(*, launch_id: str) -> None:
    launch = StudyLaunch.objects.get(pk=launch_id)
    StudyLaunch.objects.filter(pk=launch.pk).update(sent_at=timezone.now())
    workflow_build(launch).apply_async()
