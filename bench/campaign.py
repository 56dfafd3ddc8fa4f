"""Campaign preview-count latency over a million alerts, and export throughput, printed as JSON lines.

    python bench/campaign.py [--alerts 1000000] [--votes 300000] [--repeat 7] [--keep-db]

1. Creates a throwaway PostgreSQL database (``blink_bench_campaign`` on the server of DATABASE_URL, default
   postgres://postgres@127.0.0.1:5432/), migrates it, and drops it at the end (unless --keep-db).
2. Fills ``labeling_alert`` with N synthetic alerts in one ``INSERT ... SELECT generate_series`` (no stamps:
   counting needs none) with survey-like distributions: rb/drb uniform, 15 % without drb, magpsf 15-21, |b|
   from a uniform sky, 300 nights, 90 % programid 1, 70 % positive subtractions, 10 % near a known
   solar-system object; then ANALYZE.
3. ``filter_count_ms``: ``labeling.filters.count_matching`` (the preview's count) for several filters, the
   median of --repeat runs after one warm-up, with the query plan's top node. Target: < 300 ms.
4. ``export_rows_per_s``: a live campaign over 100,000 of those alerts with --votes votes (SQL-generated),
   exported in the Zooniverse classification layout and as consensus CSV through the same streaming
   generators the download endpoint uses; ``peak_rss_mb`` shows the export does not hold the votes in memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from functools import partial

import blinkbench as bb  # bench/ is the running script's folder, so on sys.path

emit = partial(bb.emit, "campaign")
BENCH_DB = "blink_bench_campaign"

FILTERS = {
    # The DOMAIN example: "which of last night's 0.2 < rb < 0.4 alerts at |b| > x are real?"
    "domain_example": {
        "rb": {"gt": 0.2, "lt": 0.4},
        "abs_gal_b": {"gt": 10},
        "programid": 1,
        "isdiffpos": True,
        "ssdistnr": {"gt": 8},
        "ndethist": {"gt": 1},
    },
    "one_night_rb_range": {"night": "2018-11-15", "rb": {"gt": 0.2, "lt": 0.4}},
    "rb_range_only": {"rb": {"gt": 0.2, "lt": 0.4}},
    "bright_point_sources": {"magpsf": {"lt": 17.5}, "sgscore1": {"lt": 0.5}, "fwhm": {"lt": 3}, "elong": {"lt": 1.3}},
    "no_sso_positive": {"no_sso": True, "isdiffpos": True, "drb": {"gt": 0.9}},
    "all_alerts": {},
}


FILL_ALERTS = """
INSERT INTO labeling_alert (
    candid, object_id, schemavsn, publisher, jd, night, nid, fid, ra, dec, gal_l, gal_b, magpsf, sigmapsf,
    isdiffpos, rb, drb, fwhm, elong, classtar, sgscore1, distpsnr1, ssdistnr, ssnamenr, ndethist, programid,
    candidate, source, demo_truth, ingested_at
)
SELECT
    4000000000000000000 + i,
    'ZTFbench' || lpad((i / 3)::text, 7, '0'),
    '3.3', 'bench',
    2458270.5 + (i %% 300) + random() * 0.4,
    date '2018-06-01' + (i %% 300),
    600 + (i %% 300),
    1 + (i %% 3 <> 0)::int + (i %% 17 = 0)::int,
    random() * 360, degrees(asin(2 * random() - 1)),
    random() * 360, degrees(asin(2 * random() - 1)),
    15 + random() * 6, 0.02 + random() * 0.2,
    random() < 0.7,
    random(),
    CASE WHEN random() < 0.15 THEN NULL ELSE random() END,
    1 + random() * 5, 1 + random(), random(),
    CASE WHEN random() < 0.2 THEN NULL ELSE random() END,
    CASE WHEN random() < 0.2 THEN NULL ELSE random() * 30 END,
    CASE WHEN random() < 0.9 THEN NULL ELSE random() * 100 END,
    '',
    floor(random() * 50)::int,
    CASE WHEN random() < 0.9 THEN 1 ELSE 2 + (random() < 0.5)::int END,
    '{}'::jsonb, '', '', now() - interval '1 day'
FROM generate_series(1, %(n)s) AS i
"""


def fill_votes(cursor, campaign_id: int, owner_id: int, n_subjects: int, n_votes: int, n_people: int) -> None:
    cursor.execute(
        """
        INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                               is_active, date_joined)
        SELECT '!', false, 'bench' || g, '', '', '', false, true, now() FROM generate_series(1, %s) g
        """,
        [n_people],
    )
    cursor.execute(
        """
        INSERT INTO labeling_subject (campaign_id, alert_id, added_at, gold_answer, gold_note, n_classifications,
            n_votes, retired, retired_reason, majority_label, weighted_label, priority, random_key)
        SELECT %s, id, now(), '', '', 0, 0, false, '', '', '', 0, random()
        FROM labeling_alert ORDER BY id LIMIT %s
        """,
        [campaign_id, n_subjects],
    )
    # Each vote: a (subject, volunteer) pair that is unique, as the constraint demands.
    cursor.execute(
        """
        WITH s AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM labeling_subject WHERE campaign_id = %(c)s),
             u AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM auth_user WHERE username LIKE 'bench%%')
        INSERT INTO labeling_vote (subject_id, campaign_id, volunteer_id, answer, idempotency_key, created_at,
                                   duration_ms, was_gold, user_agent)
        SELECT s.id, %(c)s, u.id,
               CASE WHEN random() < 0.1 THEN 'skip' WHEN random() < 0.6 THEN 'real' ELSE 'bogus' END,
               md5(g::text)::uuid, now() - (random() * interval '30 days'), (random() * 20000)::int, false, 'bench'
        FROM generate_series(0, %(n)s - 1) g
        JOIN s ON s.k = g %% %(ns)s
        JOIN u ON u.k = (g / %(ns)s) %% %(np)s
        """,
        {"c": campaign_id, "n": n_votes, "ns": n_subjects, "np": n_people},
    )
    cursor.execute(
        """
        UPDATE labeling_subject s SET n_classifications = v.n, n_votes = v.nv,
               majority_label = CASE WHEN v.nr >= v.nb THEN 'real' ELSE 'bogus' END,
               majority_fraction = GREATEST(v.nr, v.nb)::float / NULLIF(v.nv, 0)
        FROM (SELECT subject_id, count(*) n, count(*) FILTER (WHERE answer <> 'skip') nv,
                     count(*) FILTER (WHERE answer = 'real') nr, count(*) FILTER (WHERE answer = 'bogus') nb
              FROM labeling_vote WHERE campaign_id = %s GROUP BY subject_id) v
        WHERE v.subject_id = s.id
        """,
        [campaign_id],
    )
    cursor.execute("ANALYZE labeling_subject")
    cursor.execute("ANALYZE labeling_vote")


def time_counts(repeat: int, n_alerts: int) -> None:
    from django.db import connection

    from labeling.filters import compile_filter, count_matching
    from labeling.models import Alert

    for name, spec in FILTERS.items():
        count_matching(spec)  # warm-up: plan cache, buffers
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            n = count_matching(spec)
            times.append((time.perf_counter() - t0) * 1000)
        sql, params = Alert.objects.filter(compile_filter(spec).q).order_by().values("id").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN SELECT count(*) FROM ({sql}) AS q", params)
            plan = " / ".join(row[0].strip() for row in cursor.fetchall()[:3])
        emit(
            "filter_count_ms",
            statistics.median(times),
            filter=name,
            summary=compile_filter(spec).summary,
            matching=n,
            alerts=n_alerts,
            db="postgresql",
            repeat=repeat,
            max_ms=round(max(times), 2),
            plan=plan[:200],
        )


def time_exports(n_votes: int) -> None:
    from django.contrib.auth import get_user_model

    from labeling.exports import consensus_csv, zooniverse_classifications_csv
    from labeling.models import REAL_BOGUS_CLASSES, Campaign

    owner = get_user_model().objects.create_user(username="bench-owner", password="x" * 12)
    campaign = Campaign.objects.create(
        name="Bench", slug="bench", owner=owner, classes=REAL_BOGUS_CLASSES, state="live", retire_after=1000
    )
    n_subjects = 100_000
    from django.db import connection

    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        fill_votes(cursor, campaign.pk, owner.pk, n_subjects, n_votes, n_people=max(1, n_votes // n_subjects + 5))
    setup_s = time.perf_counter() - t0
    for kind, generator in (
        ("zooniverse", lambda: zooniverse_classifications_csv(campaign)),
        ("consensus-csv", lambda: consensus_csv(campaign, method="majority")),
    ):
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        rows, size = -1, 0
        for chunk in generator():
            rows += 1
            size += len(chunk)
        elapsed = time.perf_counter() - t0
        emit(
            "export_rows_per_s",
            rows / elapsed,
            kind=kind,
            rows=rows,
            seconds=round(elapsed, 2),
            mb=round(size / 1e6, 1),
            votes=n_votes,
            subjects=n_subjects,
            db="postgresql",
            setup_s=round(setup_s, 1),
        )
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        emit("peak_rss_mb", rss_after, kind=kind, grew_by_mb=round(rss_after - rss_before, 1), rows=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--votes", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    with bb.bench_database(BENCH_DB, keep=args.keep_db):
        from django.db import connection

        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            # Building the indexes once after the insert is several times faster than updating ~20 of them
            # row by row; the indexes themselves are exactly the ones the migrations define.
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'labeling_alert' "
                "AND indexname NOT IN ('labeling_alert_pkey', 'labeling_alert_candid_key')"
            )
            indexes = cursor.fetchall()
            for name, _definition in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            cursor.execute("SELECT setseed(0.42)")
            cursor.execute(FILL_ALERTS, {"n": args.alerts})
            for _name, definition in indexes:
                cursor.execute(definition)
            # What autovacuum does after a bulk load: statistics, and the visibility map index-only scans need.
            cursor.execute("VACUUM ANALYZE labeling_alert")
        emit("fill_alerts_s", time.perf_counter() - t0, alerts=args.alerts, db="postgresql")
        time_counts(args.repeat, args.alerts)
        time_exports(args.votes)


if __name__ == "__main__":
    main()
