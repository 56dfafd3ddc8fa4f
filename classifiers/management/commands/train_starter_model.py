"""``manage.py train_starter_model``: the first braai model of a fresh Blink (what make run does)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "When no real/bogus model is active, train braai on the demo alerts' known truth, promote it, score every "
        "alert with it and precompute the demo alerts' explanations. Does nothing when a model is active."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-score", action="store_true", help="do not score the alerts afterwards")

    def handle(self, *args, **opts):
        from tqdm import tqdm

        from classifiers.registry import active_version
        from classifiers.training import NotEnoughLabels, train_starter_model

        if active_version("real_bogus") is not None:
            self.stdout.write(f"{active_version('real_bogus').label} is already active: nothing to do.")
            return
        bar = tqdm(unit="epoch", desc="starter braai", dynamic_ncols=True)

        def on_progress(event):
            if event.get("event") == "start":
                bar.reset(total=event["epochs"])
            elif event.get("event") == "epoch":
                bar.update(1)
                bar.set_postfix(loss=event["loss"], val_loss=event["val_loss"])

        try:
            version = train_starter_model(progress=on_progress, score=not opts["no_score"])
        except NotEnoughLabels as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        auc = version.metrics.get("roc_auc")
        self.stdout.write(
            self.style.SUCCESS(
                f"{version.label} is active: held-out accuracy {version.metrics.get('accuracy'):.3f}, "
                f"ROC AUC {'n/a' if auc is None else f'{auc:.3f}'}."
            )
        )
