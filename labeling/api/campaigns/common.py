"""What every campaign endpoint shares: authentication, the two permission levels, refusals as JSON naming the
field, the campaign a URL names (checked against the user), and input parsing."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ServiceError, default_code, refusal_body
from core.roles import SCIENTIST, VOLUNTEER, HasRole
from labeling.campaigns.permissions import can_manage, can_view
from labeling.campaigns.validation import CampaignError
from labeling.exports import ExportError
from labeling.inspect import InspectError
from labeling.models import Campaign

SIGNED_IN = [HasRole.of(VOLUNTEER)]
SCIENTISTS = [HasRole.of(SCIENTIST)]

ERROR = inline_serializer(
    "CampaignError",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "field": serializers.CharField(allow_null=True),
    },
)
REFUSALS = {code: OpenApiResponse(ERROR) for code in (400, 401, 403, 404)}


def refusal(status: int, detail: str, field: str | None = None) -> Response:
    return Response(refusal_body(detail, code=default_code(status), field=field), status=status)


def refusals_as_json(view):
    """Refusals of the services and selectors a campaign view calls become 400/403 JSON naming the field, in
    the one shape of ``core.errors``."""

    @wraps(view)
    def wrapped(self, request, *args, **kwargs):
        try:
            return view(self, request, *args, **kwargs)
        except ServiceError as exc:
            return Response(exc.as_body(), status=exc.status)
        except InspectError as exc:
            return refusal(400, exc.message, exc.field)
        except ExportError as exc:
            return refusal(400, str(exc))
        except PermissionDenied as exc:
            return refusal(403, str(exc) or "You may not do this.")

    return wrapped


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
