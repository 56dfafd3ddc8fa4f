"""``manage.py train_model``: train braai or the streak ensemble now, in this process, with a progress bar."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from classifiers.models import TASK_HELP, Task


class Command(BaseCommand):
    help = (
        "Train a model and register it as a candidate version (--promote makes it active). Labels come from a "
        "campaign's consensus (retired subjects' skill-weighted or majority labels) with --campaign SLUG, else from "
        "the demo alerts' known truth. real_bogus trains braai's VGG6 on ZTF alerts; rubin_real_bogus the same network on "
        "Rubin alerts only (--from-version may name a ZTF braai version to fine-tune); streaks trains the DeepStreaks-style ensemble "
        "(rb / sl / kd groups). The fixed held-out objects are left out of training and evaluate the new version "
        "against the active one; the split is by objectId. The same training run happens in the background when "
        "triggered from the web (handled by manage.py db_worker)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--task", required=True, choices=Task.values, help=f"which model to train. {TASK_HELP}".replace("%", "%%")
        )
        parser.add_argument("--campaign", metavar="SLUG", help="train on this campaign's consensus labels")
        parser.add_argument("--epochs", type=int, help="maximum epochs per network (early stopping may end sooner)")
        parser.add_argument("--seed", type=int, help="random seed for the split, initialisation and augmentation")
        parser.add_argument(
            "--from-version",
            type=int,
            metavar="ID",
            help="fine-tune this model version's weights (its id; any version of the task, or for rubin_real_bogus "
            "a real_bogus version) instead of random ones",
        )
        parser.add_argument(
            "--freeze-conv", action="store_true", help="with --from-version: keep its convolutional layers as they are"
        )
        parser.add_argument(
            "--learning-rate", type=float, help="Adam's step (default: the architecture's, smaller for a fine-tune)"
        )
        parser.add_argument("--promote", action="store_true", help="make the new version active once registered")

    def handle(self, *args, **opts):
        from tqdm import tqdm

        from classifiers.architectures import StreakHyperparameters
        from classifiers.models import ModelVersion, TrainingRun
        from classifiers.runs.requests import RunRefused, request_run
        from classifiers.runs.worker import execute_run
        from labeling.models import Campaign

        campaign = None
        if opts["campaign"]:
            campaign = Campaign.objects.filter(slug=opts["campaign"]).first()
            if campaign is None:
                raise CommandError(f"--campaign: no campaign with slug {opts['campaign']!r}")
        if opts["epochs"] is not None and opts["epochs"] < 1:
            raise CommandError("--epochs must be at least 1")
        options = {
            "epochs": opts["epochs"],
            "seed": opts["seed"],
            "learning_rate": opts["learning_rate"],
            "from_version": opts["from_version"],
            "freeze_conv": opts["freeze_conv"] or None,
            "promote": "always" if opts["promote"] else "never",
        }
        try:
            run, created = request_run(
                task=opts["task"], campaign=campaign, trigger="command", options=options, enqueue=False
            )
        except RunRefused as exc:
            raise CommandError(f"--{exc.field.replace('_', '-')}: {exc.message}") from exc
        if not created:
            raise CommandError(f"a {run.task} training is already {run.status} (run {run.pk})")

        bar = tqdm(unit="epoch", desc="loading", dynamic_ncols=True)

        def on_progress(event: dict) -> None:
            step = event.get("step")
            if step == "start":
                members = 3 * StreakHyperparameters().members_per_group if opts["task"] == Task.STREAKS else 1
                bar.reset(total=event["epochs"] * members)
                bar.set_description(
                    f"train {event['split']['train']} / val {event['split']['val']} / test {event['split']['test']}"
                )
            elif step == "epoch":
                bar.update(1)
                bar.set_postfix(member=event["member"], loss=event["loss"], val_loss=event["val_loss"])
            elif step == "early_stop":
                bar.write(f"{event['member']}: early stop at epoch {event['epoch']} (best {event['best_epoch']})")

        try:
            outcome = execute_run(run.pk, progress=on_progress)
        finally:
            bar.close()
        if outcome["status"] == TrainingRun.Status.DIVERGED:
            raise CommandError(f"training diverged and nothing was registered: {outcome['error']}")
        if outcome["status"] != TrainingRun.Status.SUCCEEDED:
            raise CommandError(f"training failed: {outcome.get('error')}")
        version = ModelVersion.objects.defer("weights").get(pk=TrainingRun.objects.get(pk=run.pk).version_id)
        m = version.metrics
        ts = version.training_set

        def fmt(value):
            return "n/a" if value is None else f"{value:.3f}"

        self.stdout.write(
            self.style.SUCCESS(f"Registered {version.label} ({version.status}), sha256 {version.sha256[:12]}…")
        )
        if ts.get("fine_tuned_from"):
            start = ts["fine_tuned_from"]
            self.stdout.write(
                f"  fine-tuned from {start['label']}{' (convolutions frozen)' if start['freeze_conv'] else ''}"
            )
        self.stdout.write(
            f"  labels: {ts.get('n_labels')} from {ts.get('source')} {ts.get('campaigns') or ''}; split {ts.get('split')}"
        )
        self.stdout.write(
            f"  held-out test: accuracy {fmt(m.get('accuracy'))}, precision {fmt(m.get('precision'))}, "
            f"recall {fmt(m.get('recall'))}, FPR {fmt(m.get('fpr'))}, FNR {fmt(m.get('fnr'))}, "
            f"ROC AUC {fmt(m.get('roc_auc'))} at threshold {m.get('threshold')}"
        )
        if version.thresholds and opts["task"] == "streaks":
            self.stdout.write(f"  group thresholds (chosen on validation data): {version.thresholds}")
