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

One object at a time: an object observed on several nights has one alert (one subject) per detection, with
similar priorities, so a plain priority order serves them back to back: the same source four times in a row
reads to a volunteer as a bug and teaches the model nothing new. Each pick therefore prefers subjects whose
object is neither already picked in this batch nor among the subjects the page holds (``exclude_ids``: the
one on screen and those queued); the others are served only when nothing else is left.
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
# Extra rows read per pick, to pass over further alerts of an object already shown.
OBJECT_SLACK = 10

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
        # Objects already in front of the volunteer (picked, on screen or queued in the page): served last.
        self.shown_objects: set[str] = self.objects_of(self.exclude)
        self.object_of: dict[int, str] = {}

    @staticmethod
    def objects_of(subject_ids: set[int]) -> set[str]:
        if not subject_ids:
            return set()
        marks = ", ".join(["%s"] * len(subject_ids))
        sql = (
            f"SELECT DISTINCT a.object_id FROM {_SUBJECT} s JOIN {_ALERT} a ON a.id = s.alert_id "
            f"WHERE s.id IN ({marks})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, sorted(subject_ids))
            return {row[0] for row in cursor.fetchall()}

    def split_by_object(self, found: list[tuple]) -> tuple[list[tuple], list[tuple]]:
        """``found`` (in its order) split into the first row of each object not yet shown, and the rest."""
        fresh, rest, objects = [], [], set(self.shown_objects)
        for row in found:
            if row[2] in objects:
                rest.append(row)
            else:
                objects.add(row[2])
                fresh.append(row)
        return fresh, rest

    def pick(self, k: int, *, gold: bool | None, order: str, start: float | None = None) -> list[tuple]:
        """Up to k (id, priority, object id) rows; ``gold`` True/False keeps only gold/ordinary subjects, None both;
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
        sql = (
            f"SELECT s.id, s.priority, a.object_id FROM {_SUBJECT} s JOIN {_ALERT} a ON a.id = s.alert_id "
            f"WHERE {' AND '.join(where)} ORDER BY {order_by} LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, int(k)])
            rows = [(int(pk), float(priority), object_id) for pk, priority, object_id in cursor.fetchall()]
        self.object_of.update((pk, object_id) for pk, _, object_id in rows)
        return rows

    def random_order(self, k: int, rng: random.Random, *, gold: bool | None) -> list[int]:
        """Up to k ids in random_key order from a random start, wrapping to the beginning. A few more rows are
        read than needed, to pass over further alerts of an object already shown; those are served only when
        nothing else is left (a campaign of one object's alerts is still served)."""
        if k <= 0:
            return []
        wanted = k + OBJECT_SLACK
        start = rng.random()
        found = self.pick(wanted, gold=gold, order="random_from", start=start)
        if len(found) < wanted and len(self.split_by_object(found)[0]) < k:
            found += self.pick(wanted - len(found), gold=gold, order="random_before", start=start)
        fresh, rest = self.split_by_object(found)
        return [pk for pk, _, _ in (fresh + rest)[:k]]

    def priority_order(self, k: int, window: int, rng: random.Random, *, gold: bool | None) -> list[int]:
        if k <= 0:
            return []
        top = self.pick(max(k, window) + OBJECT_SLACK, gold=gold, order="priority")
        fresh, rest = self.split_by_object(top)
        # The window of near-equals to draw from: one alert per object not yet shown, unless too few are left.
        candidates = fresh[: max(k, window)] if len(fresh) >= k else (fresh + rest)[:k]
        picked = candidates if len(candidates) <= k else rng.sample(candidates, k)
        return [pk for pk, _, _ in sorted(picked, key=lambda row: -row[1])]


def _apart(ordered: list[tuple[str, int]], object_of: dict[int, str]) -> list[tuple[str, int]]:
    """The same order, except that two subjects of one object (left only when nothing else was) are not served
    back to back while another can go between them."""
    result: list[tuple[str, int]] = []
    waiting = list(ordered)
    while waiting:
        last = object_of[result[-1][1]] if result else None
        i = next((j for j, (_, pk) in enumerate(waiting) if object_of[pk] != last), 0)
        result.append(waiting.pop(i))
    return result


_SUBJECT = Subject._meta.db_table
_ALERT = Alert._meta.db_table
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
        # The next source's picks pass over these objects too.
        unseen.shown_objects.update(unseen.object_of[pk] for pk in found)
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
    ordered = _apart(ordered[:n], unseen.object_of)
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
