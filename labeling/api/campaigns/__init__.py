"""The campaign API: build, preview, take live, tutorials and field guides, gold answers, the dashboard.

Scientists (and admins, who hold every role) create campaigns and manage those they own or collaborate on;
volunteers list and read the campaigns open to them (description, tutorial, field guide), never anyone's
votes. Views parse input, call one service or selector (``labeling.campaigns``, ``labeling.inspect``) and shape
the output. Every refusal is the API's one ``{"detail", "code", "field"}`` shape (``core.errors``). The inspect table (it shows
the model's score) and the exports (the .npz needs the network's preprocessing) are served by
``classifiers.api.campaigns``, with the guards of ``common``.
"""

from django.urls import path

from labeling.api.campaigns.crud import AddMatchingView, CampaignDetailView, CampaignListView, StateView
from labeling.api.campaigns.preview import PreviewView
from labeling.api.campaigns.review import DashboardView, GoldView
from labeling.api.campaigns.teaching import (
    FieldGuideDetailView,
    FieldGuideListView,
    TutorialDetailView,
    TutorialListView,
)

urlpatterns = [
    path("campaigns/", CampaignListView.as_view(), name="api-campaigns"),
    path("campaign-filters/preview/", PreviewView.as_view(), name="api-campaign-preview"),
    path("campaigns/<slug:slug>/", CampaignDetailView.as_view(), name="api-campaign"),
    path("campaigns/<slug:slug>/state/", StateView.as_view(), name="api-campaign-state"),
    path("campaigns/<slug:slug>/add-matching/", AddMatchingView.as_view(), name="api-campaign-add-matching"),
    path("campaigns/<slug:slug>/tutorial/", TutorialListView.as_view(), name="api-campaign-tutorial"),
    path("campaigns/<slug:slug>/tutorial/<int:pk>/", TutorialDetailView.as_view(), name="api-campaign-tutorial-step"),
    path("campaigns/<slug:slug>/field-guide/", FieldGuideListView.as_view(), name="api-campaign-field-guide"),
    path(
        "campaigns/<slug:slug>/field-guide/<int:pk>/",
        FieldGuideDetailView.as_view(),
        name="api-campaign-field-guide-entry",
    ),
    path("campaigns/<slug:slug>/gold/", GoldView.as_view(), name="api-campaign-gold"),
    path("campaigns/<slug:slug>/dashboard/", DashboardView.as_view(), name="api-campaign-dashboard"),
]
