"""Output shapes of the ML lead console's API (``classifiers.api.console``), documented in the OpenAPI schema.

They describe the plain dicts the console's selectors return.
"""

from __future__ import annotations

from rest_framework import serializers

from classifiers.models import ModelVersion, Task


class HeadlineSerializer(serializers.Serializer):
    accuracy = serializers.FloatField(allow_null=True)
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    fpr = serializers.FloatField(allow_null=True, help_text="False-positive rate at the operating threshold")
    fnr = serializers.FloatField(allow_null=True, help_text="False-negative rate at the operating threshold")
    roc_auc = serializers.FloatField(allow_null=True)


class VersionRowSerializer(serializers.ModelSerializer):
    """A version as the console lists it (``classifiers.console.versions.version_row``): the model's own fields
    typed by the model, and what the console adds."""

    label = serializers.CharField()
    parent = serializers.CharField(allow_null=True, help_text="the label of the version it was trained from")
    training_set_size = serializers.IntegerField(allow_null=True)
    threshold = serializers.FloatField(help_text="the operating threshold: scores at or above it are positive")
    metrics = HeadlineSerializer(
        help_text="Its figures on the task's fixed held-out set, stored when its training ended (the same on every "
        "page); its own test split at training when it was never evaluated there: `evaluated_on` says which"
    )
    evaluated_on = serializers.JSONField(help_text='{"kind": "heldout" or "own_test", "label", "n", "n_positive"}')
    own_test = serializers.JSONField(help_text="ROC AUC, accuracy and size of its own test split at training")
    provenance = serializers.JSONField(
        allow_null=True, help_text="an imported version's name, source, licence, file and sha256_short; else null"
    )
    input_recipe = serializers.CharField(help_text="how stamps become its input, when not Blink's default; else ''")

    class Meta:
        model = ModelVersion
        fields = [
            *("id", "task", "version", "label", "status", "architecture", "parent", "training_set_size"),
            *("created_at", "threshold", "metrics", "evaluated_on", "own_test", "provenance", "input_recipe"),
        ]


class CurveSerializer(serializers.Serializer):
    fpr = serializers.ListField(child=serializers.FloatField(), required=False)
    tpr = serializers.ListField(child=serializers.FloatField(), required=False)
    precision = serializers.ListField(child=serializers.FloatField(), required=False)
    recall = serializers.ListField(child=serializers.FloatField(), required=False)
    thresholds = serializers.ListField(child=serializers.FloatField())


class MetricsSerializer(HeadlineSerializer):
    n = serializers.IntegerField()
    n_positive = serializers.IntegerField()
    n_negative = serializers.IntegerField()
    threshold = serializers.FloatField()
    confusion = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()), help_text="[[TN, FP], [FN, TP]]"
    )
    roc = CurveSerializer(required=False)
    pr = CurveSerializer(required=False)


class DeltaSerializer(serializers.Serializer):
    metric = serializers.CharField()
    label = serializers.CharField()
    a = serializers.FloatField(allow_null=True)
    b = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(allow_null=True, help_text="b - a")
    low = serializers.FloatField(allow_null=True, help_text="lower end of the 95% paired-bootstrap interval")
    high = serializers.FloatField(allow_null=True)
    better = serializers.ChoiceField(choices=["a", "b", ""], help_text="'' when the interval contains 0")
    higher_is_better = serializers.BooleanField()


class StampUrlsSerializer(serializers.Serializer):
    science = serializers.CharField()
    template = serializers.CharField()
    difference = serializers.CharField()


class CandidateSerializer(serializers.Serializer):
    alert_id = serializers.IntegerField()
    candid = serializers.IntegerField()
    object_id = serializers.CharField()
    night = serializers.CharField()
    magpsf = serializers.FloatField(allow_null=True)
    filter = serializers.CharField()
    stamps = StampUrlsSerializer()
    gradcam_url = serializers.CharField(allow_null=True)
    gradcam_version = serializers.CharField(allow_null=True, help_text="The version the Grad-CAM overlay explains")


class ChangedCandidateSerializer(CandidateSerializer):
    score_a = serializers.FloatField()
    score_b = serializers.FloatField()
    delta = serializers.FloatField()
    truth = serializers.CharField(allow_null=True)


class ReliabilityComparisonSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="What the figures are measured against, as pages say it")
    note = serializers.CharField()
    n = serializers.IntegerField(help_text="Rubin alerts both versions scored whose reliability is confident")
    n_real = serializers.IntegerField(required=False, help_text="Of them, those Rubin's reliability calls real")
    n_scored = serializers.IntegerField(help_text="Rubin alerts with a reliability that both versions scored")
    real_above = serializers.FloatField(help_text="Reliability above this counts as real")
    bogus_below = serializers.FloatField(help_text="Reliability below this counts as bogus")
    metrics_a = MetricsSerializer(allow_null=True)
    metrics_b = MetricsSerializer(allow_null=True)


class CompareSerializer(serializers.Serializer):
    task = serializers.CharField()
    a = VersionRowSerializer()
    b = VersionRowSerializer()
    n = serializers.IntegerField(help_text="Candidates in the evaluation set")
    scope = serializers.ChoiceField(choices=["heldout", "held_out", "labelled"])
    scope_note = serializers.CharField()
    label_sources = serializers.DictField(child=serializers.IntegerField())
    source_note = serializers.CharField()
    metrics_a = MetricsSerializer(allow_null=True)
    metrics_b = MetricsSerializer(allow_null=True)
    deltas = DeltaSerializer(many=True)
    bootstrap = serializers.DictField()
    changed = ChangedCandidateSerializer(many=True)
    reference = serializers.ListField(
        child=serializers.DictField(),
        help_text="Each reference set with both versions' stored figures (a, b); braai agreement is agreement "
        "with a model (braai's drb), not human labels",
    )
    reliability = ReliabilityComparisonSerializer(
        allow_null=True,
        help_text="Rubin versions only: both against Rubin's own reliability score (confident calls: above "
        "real_above real, below bogus_below bogus) on the Rubin alerts both scored; a model's opinion, not human "
        "labels. Null for ZTF tasks.",
    )


class SliceSerializer(MetricsSerializer):
    slice = serializers.CharField()
    worse = serializers.BooleanField(help_text="Much worse than the overall figure")
    worse_reasons = serializers.ListField(child=serializers.CharField())


class DimensionSerializer(serializers.Serializer):
    dimension = serializers.CharField()
    label = serializers.CharField()
    slices = SliceSerializer(many=True)


class SliceReportSerializer(serializers.Serializer):
    version = VersionRowSerializer()
    source_note = serializers.CharField()
    label_sources = serializers.DictField(child=serializers.IntegerField())
    threshold = serializers.FloatField()
    overall = MetricsSerializer()
    dimensions = DimensionSerializer(many=True)


class CampaignReferenceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.SlugField()
    name = serializers.CharField()


class DisagreementSerializer(CandidateSerializer):
    subject_id = serializers.IntegerField(help_text="the campaign subject the volunteers answered")
    campaign = CampaignReferenceSerializer()
    consensus = serializers.CharField(help_text="the volunteers' class key (skill-weighted, else majority)")
    consensus_label = serializers.CharField(help_text="the class as the campaign names it")
    consensus_confidence = serializers.FloatField(help_text="weighted posterior, else the majority's share")
    score = serializers.FloatField(help_text="the active version's score")
    model_says = serializers.ChoiceField(choices=["positive", "negative"])
    strength = serializers.FloatField(help_text="|score - consensus| x consensus confidence")
    votes = serializers.DictField(child=serializers.IntegerField())
    n_votes = serializers.IntegerField()
    retired = serializers.BooleanField()
    gold_answer = serializers.CharField(allow_blank=True)


class DisagreementListSerializer(serializers.Serializer):
    version = VersionRowSerializer(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    n_disagreeing = serializers.IntegerField(required=False)
    rows = DisagreementSerializer(many=True)


class SendInputSerializer(serializers.Serializer):
    task = serializers.ChoiceField(choices=Task.choices, default=Task.REAL_BOGUS)
    subject_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    alert_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    target = serializers.ChoiceField(
        choices=[("gold", "an existing campaign's gold-standard review"), ("new", "a new draft campaign")]
    )
    campaign = serializers.SlugField(required=False, help_text="target=gold: the campaign's slug")
    name = serializers.CharField(required=False, max_length=200, help_text="target=new: the new campaign's name")
    owner = serializers.CharField(
        required=False, help_text="target=new: username of the scientist who owns it (default: you)"
    )


class SendOutputSerializer(serializers.Serializer):
    campaign = serializers.CharField(help_text="slug")
    created = serializers.BooleanField(help_text="True when a new draft campaign was created")
    added = serializers.IntegerField(required=False)
    marked = serializers.IntegerField(required=False, help_text="subjects now waiting for an expert answer")
    already_answered = serializers.IntegerField(required=False)


class VariableStatisticsSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    psi = serializers.FloatField(allow_null=True)
    ks = serializers.FloatField(allow_null=True)
    ks_pvalue = serializers.FloatField(allow_null=True)
    drifted = serializers.BooleanField()
    reference = serializers.DictField(
        child=serializers.FloatField(),
        allow_null=True,
        required=False,
        help_text="The reference window's p16, p50 and p84",
    )


class DriftNightSerializer(serializers.Serializer):
    night = serializers.DateField()
    nids = serializers.ListField(child=serializers.IntegerField())
    n_alerts = serializers.IntegerField()
    reference = serializers.BooleanField(help_text="Part of the reference window")
    agreement = serializers.FloatField(allow_null=True, help_text="Share of consensus labels the model agrees with")
    n_consensus = serializers.IntegerField()
    flagged = serializers.BooleanField()
    flagged_reasons = serializers.ListField(child=serializers.CharField())
    percentiles = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField()),
        help_text="variable -> {max, p93, p84, p69, p50, p31, p16, p7, min}",
    )
    statistics = serializers.DictField(child=VariableStatisticsSerializer())
    thresholds = serializers.DictField()
    computed_at = serializers.DateTimeField()


class DriftListSerializer(serializers.Serializer):
    task = serializers.CharField()
    version = VersionRowSerializer(allow_null=True)
    variables = serializers.DictField(child=serializers.CharField())
    nights = DriftNightSerializer(many=True)
