"""Builders for the ML console tests: alerts without packets, versions without training, scores by hand."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

import numpy as np

from classifiers.models import ModelVersion, Score
from labeling.models import Alert, Stamps
from tests.conftest import settled_campaign

_candids = itertools.count(3_000_000_000_000_000)


def make_alerts(n: int, *, night: dt.date, rng: np.random.Generator, nid: int | None = None, **fixed) -> list[Alert]:
    """``n`` alerts of one night with plausible candidate fields; ``fixed`` overrides a field for all of them
    (a value, or an array of n values)."""
    fields = {
        "fid": rng.integers(1, 3, n),
        "magpsf": rng.normal(19.0, 0.8, n),
        "fwhm": rng.normal(2.4, 0.3, n),
        "elong": rng.normal(1.1, 0.08, n),
        "sgscore1": rng.uniform(0, 1, n),
        "gal_b": rng.uniform(-60, 60, n),
        "isdiffpos": rng.random(n) < 0.8,
        "ssdistnr": np.where(rng.random(n) < 0.1, rng.uniform(0, 5, n), np.nan),
    }
    truth = fixed.pop("demo_truth", "")
    truths = [truth] * n if isinstance(truth, str) else list(truth)
    for key, value in fixed.items():
        fields[key] = np.broadcast_to(np.asarray(value), (n,)) if np.ndim(value) == 0 else np.asarray(value)
    jd = 2440587.5 + (night - dt.date(1970, 1, 1)).days + 0.25
    alerts = []
    for i in range(n):
        candid = next(_candids)
        ss = float(fields["ssdistnr"][i])
        alerts.append(
            Alert(
                candid=candid,
                object_id=f"ZTF26t{candid % 10_000_000:07d}",
                jd=jd + i * 1e-5,
                night=night,
                nid=nid if nid is not None else (night - dt.date(2017, 1, 1)).days,
                fid=int(fields["fid"][i]),
                ra=10.0,
                dec=20.0,
                gal_l=100.0,
                gal_b=float(fields["gal_b"][i]),
                magpsf=float(fields["magpsf"][i]),
                fwhm=float(fields["fwhm"][i]),
                elong=float(fields["elong"][i]),
                sgscore1=float(fields["sgscore1"][i]),
                isdiffpos=bool(fields["isdiffpos"][i]),
                ssdistnr=None if np.isnan(ss) else ss,
                candidate={},
                demo_truth=truths[i],
            )
        )
    return Alert.objects.bulk_create(alerts)


def clone_night(alerts, night, rng, *, fwhm_factor=1.0, template_noise=0.0):
    """A new night made of resampled demo alerts (and their stamps), optionally with broader seeing or a
    noisier (degraded) template."""
    chosen = [alerts[i] for i in rng.integers(0, len(alerts), len(alerts))]
    stamps = {s.alert_id: s for s in Stamps.objects.filter(alert_id__in=[a.pk for a in chosen])}
    clones, clone_stamps = [], []
    for i, a in enumerate(chosen):
        clone = Alert(**{f.attname: getattr(a, f.attname) for f in Alert._meta.concrete_fields if f.attname != "id"})
        clone.candid = a.candid + (night.toordinal() % 1000) * 10_000_000 + i
        clone.night = night
        clone.nid = (night - dt.date(2017, 1, 1)).days
        clone.fwhm = None if a.fwhm is None else a.fwhm * fwhm_factor * (1 + rng.normal(0, 0.02))
        clones.append(clone)
    Alert.objects.bulk_create(clones)
    for a, clone in zip(chosen, clones, strict=True):
        s = stamps[a.pk]
        template = s.unpack("template")
        if template_noise:
            spread = np.nanstd(template)
            template = template + rng.normal(0, template_noise * spread, template.shape).astype(np.float32)
        clone_stamps.append(
            Stamps(
                alert=clone,
                height=s.height,
                width=s.width,
                science=s.science,
                template=Stamps.pack(template),
                difference=s.difference,
                nan_fraction=s.nan_fraction,
            )
        )
    Stamps.objects.bulk_create(clone_stamps)
    return clones


def make_version(task: str = "real_bogus", version: int = 1, status: str = "candidate", **fields) -> ModelVersion:
    """A registry row with a tiny stand-in weights blob: enough for every console read, never loaded."""
    blob = f"{task}-{version}".encode()
    defaults = {
        "architecture": "braai_vgg6" if task == "real_bogus" else "deepstreaks_ensemble",
        "metrics": {
            "accuracy": 0.9,
            "roc_auc": 0.95,
            "fpr": 0.05,
            "fnr": 0.1,
            "precision": 0.9,
            "recall": 0.9,
            "n": 40,
        },
        "training_set": {"n_labels": 120, "source": "demo_truth"},
        "thresholds": {"operating": 0.5},
    }
    defaults.update(fields)
    return ModelVersion.objects.create(
        task=task,
        version=version,
        status=status,
        weights=blob,
        sha256=hashlib.sha256(blob).hexdigest(),
        size_bytes=len(blob),
        **defaults,
    )


def add_scores(version: ModelVersion, alerts, scores) -> None:
    Score.objects.bulk_create(
        [Score(alert=a, version=version, score=float(s)) for a, s in zip(alerts, scores, strict=True)]
    )


def build_world(*, scientist, n_per_night: int = 100, seed: int = 0) -> dict:
    """Three braai versions (v1 retired, v2 active after promoting over v1, v3 a better candidate), labelled
    demo-truth alerts over five nights (the last with much broader seeing), scores from v2 and v3, a live
    campaign with retired subjects whose consensus sometimes contradicts v2, and the drift rows computed."""
    from classifiers.drift.config import DriftConfig
    from classifiers.drift.recompute import recompute_drift
    from classifiers.models import RegistryEvent

    rng = np.random.default_rng(seed)
    v1 = make_version(version=1, status="retired")
    v2 = make_version(version=2, status="active", parent=v1)
    v3 = make_version(
        version=3,
        parent=v2,
        metrics={"accuracy": 0.97, "roc_auc": 0.99, "fpr": 0.02, "fnr": 0.04, "precision": 0.98, "recall": 0.96},
    )
    RegistryEvent.objects.create(task="real_bogus", action="promote", version=v1, reason="first model")
    RegistryEvent.objects.create(
        task="real_bogus", action="promote", version=v2, previous_active=v1, reason="v2 better"
    )
    days = [dt.date(2026, 7, d) for d in (1, 2, 3, 4, 5)]
    alerts = []
    for i, day in enumerate(days):
        truth = np.where(rng.random(n_per_night) < 0.5, "real", "bogus")
        fwhm = rng.normal(2.4, 0.3, n_per_night) * (1.8 if i == 4 else 1.0)
        # A fifth of each night is faint (magpsf >= 20), where v2 guesses.
        mag = np.where(np.arange(n_per_night) % 5 == 0, 20.5, rng.normal(18.5, 0.4, n_per_night))
        alerts += make_alerts(n_per_night, night=day, rng=rng, demo_truth=list(truth), fwhm=fwhm, magpsf=mag)
    y = np.array([a.demo_truth == "real" for a in alerts], dtype=float)
    faint = np.array([a.magpsf >= 20 for a in alerts])
    s2 = np.clip(0.5 + 0.35 * (y - 0.5) * 2 + rng.normal(0, 0.15, y.size), 0, 1)
    s2[faint] = rng.uniform(0, 1, faint.sum())
    s3 = np.clip(0.5 + 0.45 * (y - 0.5) * 2 + rng.normal(0, 0.05, y.size), 0, 1)
    add_scores(v2, alerts, s2)
    add_scores(v3, alerts, s3)
    # Volunteers call everything by its truth, so they disagree with v2 wherever v2 is wrong.
    campaign, _ = settled_campaign(owner=scientist, alerts=alerts[:60], name="Night review", slug="night-review")
    summary = recompute_drift(config=DriftConfig(reference_nights=3))
    return {
        "v1": v1,
        "v2": v2,
        "v3": v3,
        "alerts": alerts,
        "days": days,
        "campaign": campaign,
        "scores_v2": dict(zip([a.pk for a in alerts], s2.tolist(), strict=True)),
        "drift": summary,
    }


def world_fixture(django_db_blocker):
    """Build :func:`build_world` once for a test module (committed; each test still runs in its own
    transaction, so a promotion in one test is rolled back before the next) and remove it afterwards."""
    from django.contrib.auth import get_user_model

    from core.roles import SCIENTIST, grant_role
    from labeling.models import Campaign

    with django_db_blocker.unblock():
        owner = get_user_model().objects.create_user("world-owner", password="world-owner-pw-1")
        grant_role(owner, SCIENTIST)
        world = build_world(scientist=owner)
    yield world
    with django_db_blocker.unblock():
        Campaign.objects.filter(owner=owner).delete()
        Alert.objects.filter(pk__in=[a.pk for a in world["alerts"]]).delete()
        ModelVersion.objects.filter(pk__in=[world[k].pk for k in ("v3", "v2", "v1")]).update(parent=None)
        ModelVersion.objects.filter(pk__in=[world[k].pk for k in ("v3", "v2", "v1")]).delete()
        owner.delete()
