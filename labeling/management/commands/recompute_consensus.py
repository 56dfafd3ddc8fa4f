"""Refit the weighted (Dawid-Skene) consensus of campaigns, as the background task does."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labeling.consensus import recompute_consensus
from labeling.models import Campaign


class Command(BaseCommand):
    help = (
        "Recompute the consensus of the named campaigns (or of every non-draft campaign with --all): the "
        "volunteer-skill-weighted Dawid-Skene label and posterior per subject, and the majority label and its "
        "agreement fraction, from the stored votes."
    )

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="campaign slugs")
        parser.add_argument("--all", action="store_true", help="every campaign that is not a draft")

    def handle(self, *args, **opts):
        if opts["all"]:
            campaigns = list(Campaign.objects.exclude(state=Campaign.State.DRAFT).order_by("slug"))
        elif opts["slugs"]:
            campaigns = list(Campaign.objects.filter(slug__in=opts["slugs"]).order_by("slug"))
            missing = set(opts["slugs"]) - {c.slug for c in campaigns}
            if missing:
                raise CommandError(f"no campaign with the slug: {', '.join(sorted(missing))}")
        else:
            raise CommandError("name at least one campaign slug, or use --all")
        started = time.monotonic()
        totals = {"votes": 0, "subjects": 0, "changed": 0}
        for campaign in tqdm(campaigns, unit="campaign", disable=len(campaigns) < 2):
            report = recompute_consensus(campaign)
            totals["votes"] += report.n_votes
            totals["subjects"] += report.n_subjects
            totals["changed"] += report.n_changed
            self.stdout.write(
                f"{campaign.slug}: {report.n_votes} votes by {report.n_volunteers} volunteers on "
                f"{report.n_subjects} subjects; {report.n_changed} subjects updated"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(campaigns)} campaign(s): {totals['votes']} votes, {totals['subjects']} subjects with a "
                f"consensus, {totals['changed']} updated in {time.monotonic() - started:.1f} s"
            )
        )
