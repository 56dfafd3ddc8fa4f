"""Everything ``make run`` needs before serving: demo alerts, real alerts when present, demo accounts,
demo campaigns and a starter model. Safe to run again: each step skips what is already there."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Prepare a demo Blink: write and ingest deterministic demo alerts (known truth), ingest the real ZTF "
        "alerts of ../shared/data when present, create the demo accounts (password blink-demo), two live demo "
        "campaigns, and train a starter braai model when no model is active. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--alerts-dir", default=str(settings.BLINK["DEMO_ALERT_DIR"]), help="where demo packets are written"
        )
        parser.add_argument("--n", type=int, default=600, help="number of demo alerts (default 600)")
        parser.add_argument("--seed", type=int, default=20181115, help="demo generator seed")
        parser.add_argument("--no-real", action="store_true", help="do not ingest ../shared/data even when present")
        parser.add_argument("--no-model", action="store_true", help="skip the starter model")

    def step(self, text: str) -> float:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {text}"))
        return time.monotonic()

    def done(self, started: float, text: str) -> None:
        self.stdout.write(f"    {text} ({time.monotonic() - started:.1f} s)")

    def handle(self, *args, **opts):
        from core.roles import create_demo_users
        from fixtures.demo_alerts import write_demo_alerts
        from labeling.campaigns import create_demo_campaigns
        from labeling.ingest import ingest_paths
        from labeling.models import Alert

        t = self.step("Demo accounts")
        users = create_demo_users()
        self.done(t, "volunteer, scientist, mllead, admin — password blink-demo")

        t = self.step("Demo alerts")
        out = Path(opts["alerts_dir"])
        if Alert.objects.exclude(demo_truth="").exists():
            self.done(t, "already ingested")
        else:
            paths = write_demo_alerts(out, n=opts["n"], seed=opts["seed"])
            report = ingest_paths(paths, progress=True)
            self.done(t, f"{report.new} new, {report.present} already present, {report.rejected} rejected")

        real = Path(settings.SHARED_DATA_DIR) / "ztf"
        if not opts["no_real"] and real.exists():
            t = self.step(f"Real ZTF alerts from {real}")
            report = ingest_paths([real / "avro", real / "parquet"], progress=True)
            self.done(t, f"{report.new} new, {report.present} already present, {report.rejected} rejected")
        elif not opts["no_real"]:
            self.stdout.write(f"    (no real alerts at {real}; the demo uses generated alerts only)")

        scientist = next(u for u in users if u.username == "scientist")
        if not opts["no_model"]:
            from classifiers.registry import active_version
            from classifiers.training import train_starter_model

            t = self.step("Starter braai model")
            if active_version("real_bogus") is None:
                version = train_starter_model()
                self.done(
                    t,
                    f"trained and promoted {version.label}: test ROC AUC {version.metrics.get('roc_auc', float('nan')):.3f}",
                )
            else:
                self.done(t, "a real/bogus model is already active")

        t = self.step("Demo campaigns")
        campaigns = create_demo_campaigns(owner=scientist)
        self.done(t, ", ".join(c.name for c in campaigns))

        # The drift page reads stored summaries; computing them here means it is not empty on first visit.
        from classifiers.drift import recompute_drift

        t = self.step("Night-by-night drift summaries")
        summary = recompute_drift()
        self.done(
            t, "; ".join(f"{x['task']}: {x['nights']} nights, {len(x['flagged'])} flagged" for x in summary["tasks"])
        )

        self.stdout.write(
            self.style.SUCCESS("Demo ready. Log in with volunteer / scientist / mllead / admin, password blink-demo.")
        )
