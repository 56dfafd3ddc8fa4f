from labeling.models.alerts import FILTER_NAMES, STAMP_KINDS, Alert, LightCurvePoint, StampPlane, Stamps, stamp_array
from labeling.models.campaigns import (
    REAL_BOGUS_CLASSES,
    SKIP,
    STREAK_CLASSES,
    Campaign,
    FieldGuideEntry,
    Subject,
    TutorialSeen,
    TutorialStep,
    Vote,
)
from labeling.models.talk import Comment, Hashtag

__all__ = [
    "FILTER_NAMES",
    "REAL_BOGUS_CLASSES",
    "SKIP",
    "STAMP_KINDS",
    "STREAK_CLASSES",
    "Alert",
    "Campaign",
    "Comment",
    "FieldGuideEntry",
    "Hashtag",
    "LightCurvePoint",
    "StampPlane",
    "Stamps",
    "Subject",
    "TutorialSeen",
    "TutorialStep",
    "Vote",
    "stamp_array",
]
