"""Campaigns (what scientists ask), their subjects, and the votes volunteers give."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from labeling.models.alerts import Alert

# The real/bogus question of the ZTF Zooniverse campaign.
REAL_BOGUS_CLASSES = [
    {"key": "real", "label": "Real", "shortcut": "r", "description": "A genuine astrophysical source at the centre."},
    {
        "key": "bogus",
        "label": "Bogus",
        "shortcut": "b",
        "description": "An artefact: bad subtraction, cosmic ray, ghost, masked star...",
    },
]
# Streak / bogus types of the internal ZTF streak campaign (see DOMAIN.md), rarest last.
STREAK_CLASSES = [
    {"key": "masked_star", "label": "Masked bright star", "shortcut": "1"},
    {"key": "yin_yang", "label": "Yin-Yang (badly subtracted stars)", "shortcut": "2"},
    {"key": "ghost", "label": "Dementors and ghosts", "shortcut": "3"},
    {"key": "satellite", "label": "Satellite (long streak)", "shortcut": "4"},
    {"key": "satellite_flash", "label": "Satellite flash", "shortcut": "5"},
    {"key": "cosmic_ray", "label": "Cosmic ray", "shortcut": "6"},
    {"key": "asteroid", "label": "Asteroid (short streak)", "shortcut": "7"},
    {"key": "plausible_asteroid", "label": "Plausible asteroid (short streak)", "shortcut": "8"},
    {"key": "naked_star", "label": "Naked star", "shortcut": "9"},
]
SKIP = "skip"


class Campaign(models.Model):
    class QuestionType(models.TextChoices):
        REAL_BOGUS = "real_bogus", "Real / bogus"
        STREAK = "streak", "Streak type"
        CUSTOM = "custom", "Custom classes"

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        LIVE = "live", "Live"
        PAUSED = "paused", "Paused"
        FINISHED = "finished", "Finished"

    class Access(models.TextChoices):
        EVERYONE = "everyone", "Everyone signed in"
        LISTED = "listed", "Listed volunteers only"

    class Strategy(models.TextChoices):
        RANDOM = "random", "Random"
        UNCERTAINTY = "uncertainty", "Uncertainty sampling"
        MARGIN = "margin", "Margin sampling"
        ENTROPY = "entropy", "Entropy sampling"
        COMMITTEE = "committee", "Query by committee"
        RANKED_BATCH = "ranked_batch", "Ranked batch (diversity)"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    question = models.CharField(
        max_length=300, default="Is the object seen in the center of the difference image real or bogus?"
    )
    question_type = models.CharField(max_length=16, choices=QuestionType.choices, default=QuestionType.REAL_BOGUS)
    # [{"key", "label", "shortcut", "description"}]; skip is always offered and never counts as a vote.
    classes = models.JSONField(default=list)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_campaigns")
    collaborators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="collaborating_campaigns")
    access = models.CharField(max_length=16, choices=Access.choices, default=Access.EVERYONE)
    volunteers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="listed_campaigns")
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT, db_index=True)

    # The alert selection: a filter spec compiled by labeling.filters (the same compiler feeds preview,
    # going live and the API), plus an optional seeded random sample.
    selection = models.JSONField(default=dict, blank=True)
    sample_size = models.PositiveIntegerField(null=True, blank=True)
    sample_seed = models.IntegerField(default=0)

    # Retirement: after ``retire_after`` votes, or earlier once ``retire_agree_k`` votes agree and they
    # are at least ``retire_agree_fraction`` of the votes. Skips never count.
    retire_after = models.PositiveIntegerField(default=5)
    retire_agree_k = models.PositiveIntegerField(null=True, blank=True)
    retire_agree_fraction = models.FloatField(null=True, blank=True)

    gold_share = models.FloatField(
        default=0.1, help_text="Share of each volunteer's queue drawn from gold-standard subjects"
    )
    exploration_share = models.FloatField(
        default=0.2, help_text="Share of random subjects mixed into the active-learning order"
    )
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.UNCERTAINTY)
    model_task = models.CharField(
        max_length=16, default="real_bogus", help_text="Classifier task whose scores order the queue"
    )
    retrain_every = models.PositiveIntegerField(
        null=True, blank=True, help_text="Retrain after this many new consensus labels (off when empty)"
    )
    labels_since_training = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    went_live_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(gold_share__gte=0) & Q(gold_share__lte=1), name="campaign_gold_share_range"
            ),
            models.CheckConstraint(
                condition=Q(exploration_share__gte=0) & Q(exploration_share__lte=1),
                name="campaign_exploration_share_range",
            ),
            models.CheckConstraint(condition=Q(retire_after__gte=1), name="campaign_retire_after_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def answer_keys(self) -> list[str]:
        return [c["key"] for c in self.classes]

    def class_label(self, key: str) -> str:
        for c in self.classes:
            if c["key"] == key:
                return c.get("label", key)
        return "Skip" if key == SKIP else key


class TutorialStep(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tutorial_steps")
    order = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    text = models.TextField()
    example_alert = models.ForeignKey(Alert, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["order", "id"]


class FieldGuideEntry(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="field_guide")
    order = models.PositiveIntegerField(default=0)
    answer = models.CharField(max_length=64, blank=True, help_text="The class this entry explains")
    title = models.CharField(max_length=200)
    text = models.TextField()
    examples = models.ManyToManyField(Alert, blank=True, related_name="+")

    class Meta:
        ordering = ["order", "id"]


class Subject(models.Model):
    """An alert inside one campaign. Counters and consensus are kept here so queues and the inspect page
    read one row; they are updated in the same transaction as the vote that changes them."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="subjects")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="subjects")
    added_at = models.DateTimeField(auto_now_add=True)

    gold_answer = models.CharField(
        max_length=64, blank=True, help_text="Expert answer; non-empty makes this a gold-standard subject"
    )
    gold_note = models.TextField(blank=True)

    n_classifications = models.PositiveIntegerField(default=0, help_text="All votes, skips included")
    n_votes = models.PositiveIntegerField(default=0, help_text="Votes that are not skips")
    retired = models.BooleanField(default=False)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_reason = models.CharField(max_length=64, blank=True)

    majority_label = models.CharField(max_length=64, blank=True)
    majority_fraction = models.FloatField(null=True, blank=True)
    weighted_label = models.CharField(max_length=64, blank=True)
    weighted_posterior = models.FloatField(null=True, blank=True)

    # Queue order, written by activelearning.queue in the background: higher is served first.
    priority = models.FloatField(default=0.0)
    # A stable random key for the exploration share and for random order without ORDER BY random().
    random_key = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "alert"], name="subject_unique_alert_per_campaign")]
        indexes = [
            models.Index(fields=["campaign", "retired", "-priority"], name="subject_queue"),
            models.Index(fields=["campaign", "retired", "random_key"], name="subject_random"),
        ]

    @property
    def is_gold(self) -> bool:
        return bool(self.gold_answer)


class Vote(models.Model):
    """One classification. Stored exactly once: the idempotency key makes a repeated request a no-op, and
    one volunteer can classify a subject only once."""

    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="votes")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="votes")
    volunteer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="votes")
    answer = models.CharField(max_length=64)
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time from display to answer")
    was_gold = models.BooleanField(default=False)
    user_agent = models.CharField(max_length=300, blank=True)
    # How much this vote counts towards the subject's majority and retirement: 1 from a volunteer with a record,
    # less from an account without one (labeling.consensus.vote_weight), fixed when the vote is cast.
    weight = models.FloatField(default=1.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "volunteer"], name="vote_once_per_subject"),
            models.CheckConstraint(condition=Q(weight__gt=0) & Q(weight__lte=1), name="vote_weight_range"),
        ]
        indexes = [models.Index(fields=["campaign", "volunteer"], name="vote_campaign_volunteer")]

    @property
    def is_skip(self) -> bool:
        return self.answer == SKIP


class TutorialSeen(models.Model):
    """The tutorial opens by itself on a volunteer's first visit to a campaign, and only then."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    volunteer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "volunteer"], name="tutorial_seen_once")]
