"""What every campaign endpoint shares: authentication, the two permission levels, the refusals they document,
the campaign a URL names (checked against the user), and input parsing.

The views do not catch refusals: a service's ``CampaignError``/``FilterError``/``InspectError``/``ExportError``
(each a ``core.errors.ServiceError``) and ``PermissionDenied`` become the API's one refusal shape in its
exception handler (``core.api_errors``)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.views import APIView

from core.openapi import refusal_responses
from core.roles import SCIENTIST, VOLUNTEER, HasRole
from labeling.campaigns.permissions import can_manage, can_view
from labeling.campaigns.validation import CampaignError
from labeling.models import Campaign

SIGNED_IN = [HasRole.of(VOLUNTEER)]
SCIENTISTS = [HasRole.of(SCIENTIST)]

REFUSALS = refusal_responses(400, 403, 404)


def campaign_for(request, slug: str, *, manage: bool = False) -> Campaign:
    campaign = get_object_or_404(Campaign, slug=slug)
    allowed = can_manage(request.user, campaign) if manage else can_view(request.user, campaign)
    if not allowed:
        raise PermissionDenied(
            "only the campaign's owner, its collaborators and admins may do this"
            if manage
            else "this campaign is not open to you"
        )
    return campaign


def parse(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    if not serializer.is_valid():
        field, messages = next(iter(serializer.errors.items()))
        message = messages[0] if isinstance(messages, list) else str(messages)
        raise CampaignError("" if field == "non_field_errors" else field, str(message))
    return dict(serializer.validated_data)


def require_fields(data: dict, *names: str) -> None:
    for name in names:
        if not data.get(name):
            raise CampaignError(name, "this field is required")


class Base(APIView):
    authentication_classes = [TokenAuthentication, SessionAuthentication]


class ScientistsOnly(Base):
    permission_classes = SCIENTISTS


class ReadSignedInWriteScientists(Base):
    """Reading is for anyone signed in (the view then checks the campaign is open to them); writing is for
    scientists (the view then checks they manage the campaign)."""

    permission_classes = SIGNED_IN

    def get_permissions(self):
        return [p() for p in (SIGNED_IN if self.request.method == "GET" else SCIENTISTS)]
