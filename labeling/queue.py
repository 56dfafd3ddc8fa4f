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

from django.db import connection

from core.rows import fetch_ids
from labeling.models import Alert, Campaign, Subject, Vote

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


class _Unseen:
    """The unretired subjects of a campaign a volunteer has not voted on, minus some ids: the one filter every
    pick shares, kept as SQL. These picks run on every next-subject request, and the ORM spent far longer in
    Python building the anti-join than the database spends running it."""

    def __init__(self, *, campaign: Campaign, volunteer, exclude: set[int]):
        self.campaign_id = campaign.pk
        self.volunteer_id = volunteer.pk
        self.exclude = set(exclude)

    def pick(self, k: int, *, gold: bool | None, order: str, start: float | None = None) -> list[tuple[int, float]]:
        """Up to k (id, priority) pairs; ``gold`` True/False keeps only gold/ordinary subjects, None both;
        ``order`` is "priority" (best first), "random_from" (random_key >= ``start``, ascending) or
        "random_before" (random_key < ``start``, ascending)."""
        if k <= 0:
            return []
        where = ["s.campaign_id = %s", "s.retired = %s"]
        params: list = [self.campaign_id, False]
        if gold is True:
            where.append("s.gold_answer <> ''")
        elif gold is False:
            where.append("s.gold_answer = ''")
        if self.exclude:
            where.append(f"s.id NOT IN ({', '.join(['%s'] * len(self.exclude))})")
            params += sorted(self.exclude)
        where.append(f"NOT EXISTS (SELECT 1 FROM {_VOTE} v WHERE v.subject_id = s.id AND v.volunteer_id = %s)")
        params.append(self.volunteer_id)
        if order == "priority":
            order_by = "s.priority DESC"
        elif order == "random_from":
            where.append("s.random_key >= %s")
            params.append(start)
            order_by = "s.random_key"
        elif order == "random_before":
            where.append("s.random_key < %s")
            params.append(start)
            order_by = "s.random_key"
        else:
            raise ValueError(f"unknown order {order!r}")
        sql = f"SELECT s.id, s.priority FROM {_SUBJECT} s WHERE {' AND '.join(where)} ORDER BY {order_by} LIMIT %s"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, int(k)])
            return [(int(pk), float(priority)) for pk, priority in cursor.fetchall()]

    def random_order(self, k: int, rng: random.Random, *, gold: bool | None) -> list[int]:
        """Up to k ids in random_key order from a random start, wrapping to the beginning."""
        if k <= 0:
            return []
        start = rng.random()
        picked = self.pick(k, gold=gold, order="random_from", start=start)
        if len(picked) < k:
            picked += self.pick(k - len(picked), gold=gold, order="random_before", start=start)
        return [pk for pk, _ in picked]

    def priority_order(self, k: int, window: int, rng: random.Random, *, gold: bool | None) -> list[int]:
        if k <= 0:
            return []
        top = self.pick(max(k, window), gold=gold, order="priority")
        picked = top if len(top) <= k else rng.sample(top, k)
        return [pk for pk, _ in sorted(picked, key=lambda pair: -pair[1])]


_SUBJECT = Subject._meta.db_table
_VOTE = Vote._meta.db_table


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

    unseen = _Unseen(campaign=campaign, volunteer=volunteer, exclude=exclude)
    # When gold subjects are served as their own share, the other sources leave them out.
    ordinary = False if campaign.gold_share > 0 else None
    picks: dict[str, list[int]] = {GOLD: [], EXPLORE: [], PRIORITY: []}

    def keep(source: str, found: list[int]) -> int:
        unseen.exclude.update(found)
        picks[source] += found
        return len(found)

    shortfall = 0
    if wanted[GOLD]:
        got = keep(GOLD, unseen.random_order(wanted[GOLD], rng, gold=True))
        shortfall += wanted[GOLD] - got
    if wanted[EXPLORE]:
        got = keep(EXPLORE, unseen.random_order(wanted[EXPLORE], rng, gold=ordinary))
        shortfall += wanted[EXPLORE] - got
    k = wanted[PRIORITY] + shortfall
    got = keep(PRIORITY, unseen.priority_order(k, priority_window, rng, gold=ordinary))
    if got < k and ordinary is False:
        # Only gold subjects are left for this volunteer: serve them rather than nothing.
        keep(GOLD, unseen.random_order(k - got, rng, gold=True))

    # Interleave in the order the sources were drawn, so gold subjects do not always come first.
    ordered: list[tuple[str, int]] = []
    for source in sources:
        if picks[source]:
            ordered.append((source, picks[source].pop(0)))
    for source in (PRIORITY, EXPLORE, GOLD):
        ordered += [(source, pk) for pk in picks[source]]
    ordered = ordered[:n]
    if not ordered:
        return []
    # core.rows: the fields' converters still apply (SQLite dates, booleans), the query compiler does not run.
    by_pk = {subject.pk: subject for subject in fetch_ids(Subject, [pk for _, pk in ordered])}
    if with_alert:
        # The packet's whole candidate record is large and the page needs none of it.
        found = fetch_ids(Alert, [s.alert_id for s in by_pk.values()], skip=("candidate", "source"))
        alerts = {a.pk: a for a in found}
        for subject in by_pk.values():
            subject.alert = alerts[subject.alert_id]
    served = []
    for source, pk in ordered:
        subject = by_pk.get(pk)
        if subject is not None:
            subject.queue_source = source
            served.append(subject)
    return served
