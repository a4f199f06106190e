"""Staff pages: paste or upload a recipe, see its plan and cost, launch it, follow it live."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from launches import selectors, services
from launches.forms import RecipeForm
from launches.models import LaunchStatus, StudyLaunch

ACTIONS = {"launch": services.launch_start, "cancel": services.launch_cancel, "retry": services.launch_retry}


@staff_member_required
@require_http_methods(["GET", "POST"])
def launch_list(request):
    form = RecipeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            launch = services.launch_create(text=form.cleaned_data["recipe"], created_by=request.user)
        except services.LaunchRefused as exc:
            for fault in exc.faults:
                form.add_error(None, fault)
        else:
            return redirect("launches:detail", pk=launch.pk)
    recent = StudyLaunch.objects.all()[:30]
    return render(request, "launches/list.html", {"form": form, "launches": recent})


@staff_member_required
def launch_detail(request, pk):
    launch = get_object_or_404(StudyLaunch, pk=pk)
    status = selectors.launch_status(launch=launch)
    refresh = launch.status in (LaunchStatus.RUNNING,)  # the page follows a running launch by itself
    return render(request, "launches/detail.html", {"launch": launch, "status": status, "refresh": refresh})


@staff_member_required
@require_POST
def launch_action(request, pk, action):
    launch = get_object_or_404(StudyLaunch, pk=pk)
    if action not in ACTIONS:
        return redirect("launches:detail", pk=pk)
    try:
        ACTIONS[action](launch=launch)
    except services.LaunchRefused as exc:
        messages.error(request, str(exc))
    return redirect("launches:detail", pk=pk)
