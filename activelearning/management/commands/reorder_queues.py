"""``manage.py reorder_queues``: rewrite campaigns' queue priorities from the active model's stored scores."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Order each campaign's unretired subjects by its strategy (uncertainty, margin, entropy, committee, ranked "
        "batch or random) from the active model's stored scores, as the loop does after every promotion. Run it "
        "after scoring alerts by hand (manage.py score_alerts) or after changing a campaign's strategy."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", action="append", help="a campaign slug (repeat; default: every campaign)")
        parser.add_argument("--background", action="store_true", help="enqueue for manage.py db_worker instead")

    def handle(self, *args, **opts):
        from tqdm import tqdm

        from activelearning.queue import reorder_campaign
        from activelearning.tasks import request_reorder
        from labeling.models import Campaign

        campaigns = Campaign.objects.exclude(state=Campaign.State.FINISHED).order_by("pk")
        if opts["campaign"]:
            campaigns = Campaign.objects.filter(slug__in=opts["campaign"]).order_by("pk")
            missing = sorted(set(opts["campaign"]) - set(campaigns.values_list("slug", flat=True)))
            if missing:
                raise CommandError(f"no campaign with slug {', '.join(missing)}")
        total = 0
        for campaign in tqdm(list(campaigns), desc="campaigns", unit="campaign"):
            if opts["background"]:
                self.stdout.write(f"{campaign.slug}: queued (task {request_reorder(campaign)})")
                continue
            result = reorder_campaign(campaign)
            total += result.ordering.n_subjects
            self.stdout.write(
                f"{campaign.slug}: {result.ordering.n_subjects} subjects by {result.strategy_used} "
                f"({result.n_scored} scored) in {result.ordering.duration_ms:.0f} ms {result.note}".rstrip()
            )
        self.stdout.write(self.style.SUCCESS(f"Done: {total} subjects reordered."))
