"""Which subjects a volunteer sees next in a campaign.

The order is written elsewhere (``Subject.priority``, kept up to date in the background by the active-learning
loop); this selector only reads it, so serving the next subject never scores anything. Each pick comes from one
of three sources, drawn independently per pick:

- **gold** (``campaign.gold_share``): a gold-standard subject, in random order, so volunteer skill can be measured;
- **explore** (``campaign.exploration_share``): a subject in random order, so the training set does not collapse
  onto the model's decision boundary;
- **priority** (the rest): the highest ``priority`` first. The very top is spread over the volunteers
  classifying at the same moment: priority picks are drawn at random from the ``priority_window`` best
  subjects (and served best first), so fifty volunteers arriving together do not all vote on one subject and
  watch it retire under them (each of those late votes would be refused). The window is small next to any
  real queue, so the active-learning order still decides what is seen.

Random order is read from the ``(campaign, retired, random_key)`` index starting at a random point and wrapping
around, never ``ORDER BY random()``; priority order from the ``(campaign, retired, -priority)`` index. Every
query is a LIMIT over an index with an anti-join on the volunteer's votes, so the cost does not grow with the
campaign. When gold subjects exist and ``gold_share`` is positive, the other two sources leave gold subjects
out, so the gold share a volunteer sees is the configured one; a source that runs dry hands its picks to the
others, so a volunteer is served as long as anything is left for them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from django.db.models import Exists, OuterRef, QuerySet

from labeling.models import Campaign, Subject, Vote

GOLD = "gold"
EXPLORE = "explore"
PRIORITY = "priority"
MAX_BATCH = 20
MAX_EXCLUDE = 500
PRIORITY_WINDOW = 40

_default_rng = random.Random()


def _draw_sources(*, campaign: Campaign, n: int, rng: random.Random) -> list[str]:
    sources = []
    for _ in range(n):
        u = rng.random()
        if u < campaign.gold_share:
            sources.append(GOLD)
        elif u < campaign.gold_share + campaign.exploration_share:
            sources.append(EXPLORE)
        else:
            sources.append(PRIORITY)
    return sources


def _unseen(*, campaign: Campaign, volunteer, exclude: set[int]) -> QuerySet[Subject]:
    voted = Vote.objects.filter(subject=OuterRef("pk"), volunteer=volunteer)
    qs = Subject.objects.filter(campaign=campaign, retired=False).filter(~Exists(voted))
    if exclude:
        qs = qs.exclude(pk__in=exclude)
    return qs


def _random_order(qs: QuerySet[Subject], k: int, rng: random.Random) -> list[Subject]:
    """Up to k subjects in random_key order from a random start, wrapping to the beginning."""
    if k <= 0:
        return []
    start = rng.random()
    picked = list(qs.filter(random_key__gte=start).order_by("random_key")[:k])
    if len(picked) < k:
        picked += list(qs.filter(random_key__lt=start).order_by("random_key")[: k - len(picked)])
    return picked


def _priority_order(qs: QuerySet[Subject], k: int, window: int, rng: random.Random) -> list[Subject]:
    if k <= 0:
        return []
    # The window is read as (id, priority) pairs and only the k drawn subjects are loaded whole: building
    # forty Subject+Alert objects to keep one was most of the cost of a next-subject request.
    top = list(qs.order_by("-priority").values_list("pk", "priority")[: max(k, window)])
    picked = top if len(top) <= k else rng.sample(top, k)
    by_pk = {s.pk: s for s in qs.filter(pk__in=[pk for pk, _ in picked])}
    return [by_pk[pk] for pk, _ in sorted(picked, key=lambda pair: -pair[1]) if pk in by_pk]


def next_subjects(
    *,
    campaign: Campaign,
    volunteer,
    n: int = 5,
    exclude_ids: Iterable[int] = (),
    rng: random.Random | None = None,
    with_alert: bool = False,
    priority_window: int = PRIORITY_WINDOW,
) -> list[Subject]:
    """Up to ``n`` unretired subjects of ``campaign`` that ``volunteer`` has not voted on and that are not in
    ``exclude_ids`` (the subjects already waiting in the page's local queue). Each returned subject carries
    ``queue_source`` (gold, explore or priority). Pass ``rng`` for reproducible draws, ``priority_window=1``
    for the strict priority order."""
    n = max(0, min(int(n), MAX_BATCH))
    if n == 0:
        return []
    rng = rng or _default_rng
    exclude = {int(i) for i in list(exclude_ids)[:MAX_EXCLUDE]}
    sources = _draw_sources(campaign=campaign, n=n, rng=rng)
    wanted = {s: sources.count(s) for s in (GOLD, EXPLORE, PRIORITY)}

    base = _unseen(campaign=campaign, volunteer=volunteer, exclude=exclude)
    if with_alert:
        # The packet's whole candidate record is large and the page needs none of it.
        base = base.select_related("alert").defer("alert__candidate", "alert__source")
    separate_gold = campaign.gold_share > 0
    ordinary = base.filter(gold_answer="") if separate_gold else base

    picks: dict[str, list[Subject]] = {GOLD: [], EXPLORE: [], PRIORITY: []}
    taken: set[int] = set()

    def without_taken(qs: QuerySet[Subject]) -> QuerySet[Subject]:
        return qs.exclude(pk__in=taken) if taken else qs

    def keep(source: str, found: list[Subject]) -> int:
        for subject in found:
            subject.queue_source = source
            taken.add(subject.pk)
        picks[source] += found
        return len(found)

    shortfall = 0
    if wanted[GOLD]:
        got = keep(GOLD, _random_order(base.exclude(gold_answer=""), wanted[GOLD], rng))
        shortfall += wanted[GOLD] - got
    if wanted[EXPLORE]:
        got = keep(EXPLORE, _random_order(without_taken(ordinary), wanted[EXPLORE], rng))
        shortfall += wanted[EXPLORE] - got
    k = wanted[PRIORITY] + shortfall
    got = keep(PRIORITY, _priority_order(without_taken(ordinary), k, priority_window, rng))
    if got < k and separate_gold:
        # Only gold subjects are left for this volunteer: serve them rather than nothing.
        keep(GOLD, _random_order(without_taken(base), k - got, rng))

    # Interleave in the order the sources were drawn, so gold subjects do not always come first.
    ordered: list[Subject] = []
    for source in sources:
        if picks[source]:
            ordered.append(picks[source].pop(0))
    for source in (PRIORITY, EXPLORE, GOLD):
        ordered += picks[source]
    return ordered[:n]
