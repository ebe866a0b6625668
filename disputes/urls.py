"""disputes URLs: the API."""

from django.urls import path

from disputes import api

urlpatterns = [
    path("api/disputes", api.DisputeListView.as_view(), name="disputes"),
    path("api/disputes/<str:dispute_id>", api.DisputeDetailView.as_view(), name="dispute"),
    path("api/disputes/<str:dispute_id>/evidence", api.DisputeEvidenceView.as_view()),
    path("api/disputes/<str:dispute_id>/accept", api.DisputeAcceptView.as_view()),
    path("api/disputes/<str:dispute_id>/files", api.DisputeFilesView.as_view()),
    path("api/disputes/<str:dispute_id>/files/<str:file_id>", api.DisputeFileView.as_view()),
]
