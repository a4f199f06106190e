from django.urls import path
from rest_framework.routers import DefaultRouter

from launches import api, views

app_name = "launches"

router = DefaultRouter()
router.register("studies", api.LaunchViewSet, basename="launch")

urlpatterns = [
    path("staff/launches/", views.launch_list, name="list"),
    path("staff/launches/<uuid:pk>/", views.launch_detail, name="detail"),
    path("staff/launches/<uuid:pk>/<slug:action>/", views.launch_action, name="action"),
]
api_urlpatterns = router.urls
