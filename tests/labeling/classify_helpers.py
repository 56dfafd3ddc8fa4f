"""Alerts, stamps and campaigns made directly in the database, for the classify and Talk tests: fast enough to
make hundreds, and independent of the ingest path (which has its own tests)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from labeling.models import REAL_BOGUS_CLASSES, STREAK_CLASSES, Alert, Campaign, Stamps, Subject

BASE_CANDID = 2_000_000_000_000_000_000 // 1000  # a ZTF-like 64-bit candid range of our own


def object_id_for(number: int) -> str:
    """ZTF21 followed by seven lowercase letters, as survey objectIds look."""
    letters = []
    for _ in range(7):
        number, digit = divmod(number, 26)
        letters.append(chr(97 + digit))
    return "ZTF21" + "".join(reversed(letters))


def make_alerts(n: int, *, start: int = 0, stamps: bool = True, seed: int = 0) -> list[Alert]:
    rng = np.random.default_rng(seed + start)
    alerts = [
        Alert(
            candid=BASE_CANDID + start + i,
            object_id=object_id_for(start + i),
            jd=2459300.5 + (start + i) * 0.01,
            night=dt.date(2021, 3, 20),
            fid=1 + (start + i) % 2,
            ra=150.0 + i * 0.001,
            dec=20.0,
            gal_l=220.0,
            gal_b=45.0,
            magpsf=18.0 + (i % 10) * 0.1,
            sigmapsf=0.05,
            isdiffpos=True,
            fwhm=2.1,
            elong=1.05,
            classtar=0.9,
            sgscore1=0.2,
            distpsnr1=3.5,
            ndethist=3,
            jdstarthist=2459290.5,
            candidate={"candid": BASE_CANDID + start + i},
        )
        for i in range(n)
    ]
    alerts = Alert.objects.bulk_create(alerts)
    if stamps:
        rows = []
        for a in alerts:
            img = rng.normal(100, 5, size=(63, 63)).astype("float32")
            img[29:34, 29:34] += 400
            rows.append(
                Stamps(
                    alert=a,
                    height=63,
                    width=63,
                    science=Stamps.pack(img),
                    template=Stamps.pack(img * 0.5),
                    difference=Stamps.pack(img - 100),
                )
            )
        Stamps.objects.bulk_create(rows)
    return alerts


def make_campaign(owner, alerts, *, slug="rb", question_type="real_bogus", gold=None, **fields) -> Campaign:
    classes = REAL_BOGUS_CLASSES if question_type == "real_bogus" else STREAK_CLASSES
    campaign = Campaign.objects.create(
        name=f"Campaign {slug}",
        slug=slug,
        owner=owner,
        question_type=question_type,
        classes=[dict(c) for c in classes],
        state=fields.pop("state", Campaign.State.LIVE),
        **fields,
    )
    gold = gold or {}
    Subject.objects.bulk_create(
        [
            Subject(
                campaign=campaign,
                alert=a,
                random_key=(i * 0.6180339887) % 1.0,
                gold_answer=gold.get(i, ""),
            )
            for i, a in enumerate(alerts)
        ]
    )
    return campaign
