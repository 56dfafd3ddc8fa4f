"""Simulated volunteers for bench/load.py and bench/faults.py: they behave like the classify page's outbox
(next subject, a pause, the vote; a failed vote retried with the same idempotency key), and afterwards the
books are checked: every acknowledged vote stored exactly once, counters and retirement exact.

Not a benchmark itself; nothing here runs on import.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from blinkbench import SLUG, note


@dataclass
class Tally:
    next_ms: list[float] = field(default_factory=list)
    vote_ms: list[float] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    replays: int = 0  # acknowledged as already stored (a retry after a lost answer)
    gave_up: list[str] = field(default_factory=list)
    shown_twice: int = 0
    retired_refusals: int = 0
    duplicate_refusals: int = 0
    exhausted: int = 0
    errors: Counter = field(default_factory=Counter)
    ack_times: list[float] = field(default_factory=list)
    failure_times: list[float] = field(default_factory=list)
    volunteer_ids: set[int] = field(default_factory=set)


async def volunteer(
    v: dict, ports: list[int], until: float, think_ms: float, tally: Tally, *, retry_for: float
) -> None:
    """One volunteer as the classify page behaves: next subject, a pause, the vote; a vote that fails (network,
    5xx) is retried with the same idempotency key, with backoff, for up to ``retry_for`` seconds."""
    import httpx2

    cookies = {"sessionid": v["session"], "csrftoken": v["csrf"]}
    headers = {"X-CSRFToken": v["csrf"], "Accept": "application/json"}
    rng = random.Random(v["user_id"])
    tally.volunteer_ids.add(v["user_id"])
    seen: set[int] = set()
    port_index = v["user_id"] % len(ports)
    await asyncio.sleep(rng.random() * max(0.2, think_ms / 1000))

    def client():
        return httpx2.AsyncClient(
            base_url=f"http://127.0.0.1:{ports[port_index]}", cookies=cookies, headers=headers, timeout=15,
            limits=httpx2.Limits(max_connections=1, max_keepalive_connections=1),
        )  # fmt: skip

    c = client()
    try:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            try:
                r = await c.get(f"/api/campaigns/{SLUG}/next/?n=1")
            except httpx2.HTTPError as exc:
                tally.errors[f"next:{type(exc).__name__}"] += 1
                await asyncio.sleep(0.5)
                # A new connection, as after a failed vote (and to wherever ``ports`` now points).
                await c.aclose()
                c = client()
                continue
            if r.status_code != 200:
                tally.errors[f"next:{r.status_code}"] += 1
                await asyncio.sleep(0.5)
                continue
            tally.next_ms.append((time.perf_counter() - t0) * 1000)
            subjects = r.json()["subjects"]
            if not subjects:
                tally.exhausted += 1
                await asyncio.sleep(1.0)
                continue
            subject, served = subjects[0]["id"], subjects[0]["served"]
            if subject in seen:
                tally.shown_twice += 1
            seen.add(subject)
            if think_ms:
                await asyncio.sleep(think_ms * rng.uniform(0.5, 1.5) / 1000)
            key = str(uuid.uuid4())
            # With the card's served token, as the page's outbox sends it (a vote counts only on a served subject).
            answer = rng.choice(("real", "bogus", "real", "skip"))
            body = {"subject": subject, "answer": answer, "idempotency_key": key, "served": served}
            tally.sent.append(key)
            give_up_at = time.monotonic() + retry_for
            attempt = 0
            while True:
                t0 = time.perf_counter()
                try:
                    r = await c.post(f"/api/campaigns/{SLUG}/votes/", json=body)
                    status = r.status_code
                except httpx2.HTTPError as exc:
                    status, r = None, exc
                if status in (200, 201):
                    if attempt == 0:
                        tally.vote_ms.append((time.perf_counter() - t0) * 1000)
                    tally.acked.append(key)
                    tally.ack_times.append(time.monotonic())
                    tally.replays += status == 200
                    break
                if status == 409 and r.json().get("code") == "retired":
                    tally.retired_refusals += 1
                    break
                if status == 409 and r.json().get("code") == "duplicate":
                    tally.duplicate_refusals += 1
                    break
                if status is not None and status < 500:
                    tally.errors[f"vote:{status}:{r.json().get('code')}"] += 1
                    break
                tally.errors[f"vote:{status or type(r).__name__}"] += 1
                tally.failure_times.append(time.monotonic())
                if time.monotonic() > give_up_at:
                    tally.gave_up.append(key)
                    break
                attempt += 1
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * rng.uniform(0.5, 1.5))
                if isinstance(r, httpx2.HTTPError):
                    # The server may have gone away: a new connection (as a browser would open).
                    await c.aclose()
                    c = client()
            await asyncio.sleep(0)
    finally:
        await c.aclose()


def warm_up(ports: list[int], v: dict) -> None:
    """One next-subject request per server before the clock starts: the first request of a process imports
    the scoring code (TensorFlow) and would otherwise be counted as the volunteers' wait."""
    import httpx2

    t = time.monotonic()
    for port in ports:
        with httpx2.Client(
            base_url=f"http://127.0.0.1:{port}", cookies={"sessionid": v["session"]}, timeout=300
        ) as client:
            r = client.get(f"/api/campaigns/{SLUG}/next/?n=1")
            if r.status_code != 200:
                raise RuntimeError(f"warm-up on port {port}: HTTP {r.status_code}")
    note(f"servers warmed up in {time.monotonic() - t:.1f} s")


async def run_volunteers(vs: list[dict], ports: list[int], seconds: float, think_ms: float, *, retry_for: float,
                         during=None) -> tuple[Tally, float]:  # fmt: skip
    """Run the volunteers for ``seconds``; ``during(tally, started)``, if given, runs alongside (a fault)."""
    tally = Tally()
    started = time.monotonic()
    until = started + seconds
    tasks = [volunteer(v, ports, until, think_ms, tally, retry_for=retry_for) for v in vs]
    if during is not None:
        tasks.append(during(tally, started))
    await asyncio.gather(*tasks)
    return tally, time.monotonic() - started


# ------------------------------------------------------------------------------------------ checks


def verify(campaign_id: int, tally: Tally) -> dict:
    """What must hold after any run, read from the database."""
    from django.db.models import Count

    from labeling.models import SKIP, Campaign, Subject, Vote
    from labeling.votes import retirement_reason

    campaign = Campaign.objects.get(pk=campaign_id)
    acked = set(tally.acked)
    sent = set(tally.sent)
    stored_keys = set()
    for start in range(0, len(tally.sent), 5000):
        chunk = tally.sent[start : start + 5000]
        stored_keys |= {
            str(k) for k in Vote.objects.filter(idempotency_key__in=chunk).values_list("idempotency_key", flat=True)
        }
    # This run's volunteers' votes (earlier runs on the same campaign had volunteers of their own).
    votes = Vote.objects.filter(campaign=campaign, volunteer_id__in=tally.volunteer_ids)
    n_votes = votes.count()
    distinct_pairs = votes.values("subject", "volunteer").distinct().count()
    per_key = votes.values("idempotency_key").annotate(n=Count("id")).filter(n__gt=1).count()
    ghosts = n_votes - len(stored_keys)  # stored votes whose key no client sent

    by_subject: dict[int, list[tuple[str, float]]] = {}
    everyone = Vote.objects.filter(campaign=campaign)
    for subject_id, answer, weight in everyone.order_by("created_at", "id").values_list(
        "subject_id", "answer", "weight"
    ):
        by_subject.setdefault(subject_id, []).append((answer, weight))
    counter_mismatches = retirement_mismatches = 0
    for s in Subject.objects.filter(campaign=campaign).values("id", "n_classifications", "n_votes", "retired"):
        votes_here = by_subject.get(s["id"], [])
        answers, weights = [a for a, _ in votes_here], [w for _, w in votes_here]
        if s["n_classifications"] != len(answers) or s["n_votes"] != sum(a != SKIP for a in answers):
            counter_mismatches += 1
        should = bool(retirement_reason(campaign=campaign, answers=answers, weights=weights))
        # Retired exactly when the rule was met, and by the last vote (no vote after retirement got in).
        exact = should == s["retired"] and (
            not should or not retirement_reason(campaign=campaign, answers=answers[:-1], weights=weights[:-1])
        )
        retirement_mismatches += not exact
    return {
        "votes_sent": len(sent),
        "votes_acked": len(acked),
        "votes_stored": n_votes,
        "votes_lost": len(acked - stored_keys),
        "votes_doubled": (n_votes - distinct_pairs) + per_key + max(0, ghosts),
        "stored_not_acked": len(stored_keys - acked),
        "gave_up": len(tally.gave_up),
        "shown_twice": tally.shown_twice,
        "counter_mismatches": counter_mismatches,
        "retirement_mismatches": retirement_mismatches,
        "retired_subjects": Subject.objects.filter(campaign=campaign, retired=True).count(),
    }
