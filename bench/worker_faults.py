"""Faults of the background worker for bench/faults.py: killed -9 mid-training, and its model cache on a full
disk; with the training campaign, model and worker process they need (bench/scale.py uses those too).

Not a benchmark itself; nothing here runs on import.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import blinkbench as bb
import simulated_volunteers as sv


# The volunteers' side of a worker fault: their votes never go through the worker, so how long they stopped is the
# longest pause between acknowledged votes from the fault's start to the end of the run.
def longest_vote_pause(tally: sv.Tally, since: float) -> float | None:
    times = sorted(t for t in tally.ack_times if t >= since)
    if len(times) < 2:
        return None
    return round(max(b - a for a, b in zip([since, *times], times, strict=False)), 2)


def worker_kill(ctx, volunteers, report) -> bool:
    """A retraining runs in db_worker while volunteers vote; the worker is killed -9 after its first epoch."""
    from activelearning.policy import request_retraining
    from classifiers.models import ModelVersion, TrainingRun
    from classifiers.runs.worker import reap_stale_runs

    campaign = prepare_training_campaign()
    active = active_braai()
    n_versions = ModelVersion.objects.count()
    run, _ = request_retraining(
        task="real_bogus", campaign=campaign, user=None, options={"epochs": 40, "patience": 40, "batch_size": 4}
    )
    facts: dict = {"active_before": active.label}
    worker = start_worker(ctx)

    async def fault(tally, started):
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            progress = await loop.run_in_executor(None, lambda: TrainingRun.objects.get(pk=run.pk).progress)
            if any(e.get("step") == "epoch" for e in progress):
                break
            await asyncio.sleep(0.5)
        facts["reached_first_epoch"] = time.monotonic() < deadline
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        facts["killed_at_epoch"] = True
        facts["_killed_at"] = time.monotonic()

    tally, _ = asyncio.run(
        sv.run_volunteers(volunteers, ctx.servers.ports, max(ctx.seconds, 60), 1000, retry_for=60, during=fault)
    )
    active.refresh_from_db()
    run.refresh_from_db()
    facts["active_after_kill"] = active.label if active.status == "active" else None
    facts["versions_added_by_killed_run"] = ModelVersion.objects.count() - n_versions
    facts["run_status_after_kill"] = run.status
    # The reaper (at the next trigger or task start, after TRAINING_STALE_SECONDS) fails the run and queues one
    # retry; called here at once instead of waiting two minutes.
    reaped = reap_stale_runs(stale_after=0)
    run.refresh_from_db()
    retry = TrainingRun.objects.filter(options__retry_of=run.pk).first()
    facts["reaped"] = [r.pk for r in reaped] == [run.pk]
    facts["run_status_after_reap"] = run.status
    if retry is not None:
        TrainingRun.objects.filter(pk=retry.pk).update(options={**retry.options, "epochs": 1})
        worker = start_worker(ctx)
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                retry.refresh_from_db()
                if retry.status in ("succeeded", "failed", "diverged"):
                    break
                time.sleep(1)
        finally:
            worker.kill()
            worker.wait(timeout=30)
        facts["retry_status"] = retry.status
        facts["retry_attempts"] = retry.attempts
        if retry.status == "succeeded":
            # Kill to retry succeeded, with the reaper called at once: in service the reaper waits for the
            # heartbeat to be TRAINING_STALE_SECONDS old first.
            facts["training_resumed_s"] = round(time.monotonic() - facts["_killed_at"], 1)
    facts["recovery_s"] = longest_vote_pause(tally, facts.pop("_killed_at"))
    facts["errors"] = dict(tally.errors)
    checks = sv.verify(ctx.campaign_id, tally)
    ok = (
        facts["active_after_kill"] == facts["active_before"]
        and facts["versions_added_by_killed_run"] == 0
        and facts["reaped"]
        and facts.get("retry_status") == "succeeded"
    )
    return report("worker_kill", checks, facts, ok)


def cache_full(ctx, volunteers, report) -> bool:
    """The worker's model cache on a full disk while volunteers vote: a retraining, which loads the active
    version and registers a new one, must still run (the cache is a cache: the weights are in the database), and
    once the disk has room again the next one runs too."""
    from activelearning.policy import request_retraining
    from classifiers.models import TrainingRun

    campaign = prepare_training_campaign()
    active = active_braai()
    facts: dict = {"active_before": active.label}

    def retrain_and_wait(worker_env: dict, preexec_fn=None, log_name: str = "worker-cache.log"):
        run, _ = request_retraining(task="real_bogus", campaign=campaign, user=None, auto_promote=False,
                                    options={"epochs": 1, "patience": 1, "batch_size": 8})  # fmt: skip
        worker = start_worker(ctx, env=worker_env, preexec_fn=preexec_fn, log_name=log_name)
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                run.refresh_from_db()
                retry = TrainingRun.objects.filter(options__retry_of=run.pk).first()
                last = retry or run
                if last.status not in ("queued", "running"):
                    return last
                time.sleep(1)
            return last
        finally:
            worker.kill()
            worker.wait(timeout=30)

    with full_disk(ctx) as disk:
        facts["disk"] = disk["how"]

        async def fault(tally, started):
            loop = asyncio.get_running_loop()
            fault_started = time.monotonic()
            run = await loop.run_in_executor(None, retrain_and_wait, disk["env"], disk["preexec_fn"])
            facts["run_status_on_full_disk"] = run.status
            facts["run_error_on_full_disk"] = run.error[:300]
            disk["free"]()
            freed = time.monotonic()
            facts["_fault_started"] = fault_started
            after = await loop.run_in_executor(
                None, retrain_and_wait, {"BLINK_MODEL_CACHE_DIR": disk["dir"]}, None, "worker-cache-freed.log"
            )
            facts["run_status_after_freed"] = after.status
            facts["retrain_after_freed_s"] = round(time.monotonic() - freed, 1) if after.status == "succeeded" else None

        tally, _ = asyncio.run(
            sv.run_volunteers(volunteers, ctx.servers.ports, ctx.seconds, 1000, retry_for=60, during=fault)
        )
    fault_started = facts.pop("_fault_started", None)
    facts["recovery_s"] = longest_vote_pause(tally, fault_started) if fault_started else None
    active.refresh_from_db()
    facts["active_after"] = active.label if active.status == "active" else None
    facts["errors"] = dict(tally.errors)
    checks = sv.verify(ctx.campaign_id, tally)
    ok = (
        facts["run_status_on_full_disk"] == "succeeded"
        and facts.get("retrain_after_freed_s") is not None
        and facts["active_after"] == facts["active_before"]
    )
    return report("cache_full", checks, facts, ok)


@contextlib.contextmanager
def full_disk(ctx, size_mib: int = 4):
    """A full filesystem for the worker's model cache: a tmpfs of ``size_mib``, filled to the last byte (as
    root), else a plain directory with the worker's file size capped (RLIMIT_FSIZE) below a model file."""
    path = Path(tempfile.mkdtemp(prefix="blink-full-cache-", dir=ctx.servers.log_dir))
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(path)], capture_output=True, check=False
    ).returncode == 0  # fmt: skip
    filler = path / "filler"
    try:
        if mounted:
            with open(filler, "wb") as fh, contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            how, preexec_fn = f"tmpfs of {size_mib} MiB, filled", None
        else:
            limit = 64 << 10  # a model file is megabytes; the worker's log, started afresh, stays below this

            def preexec_fn():
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

            how = f"RLIMIT_FSIZE {limit} bytes on the worker (no tmpfs without root)"
        yield {
            "dir": str(path), "how": how, "preexec_fn": preexec_fn,
            "env": {"BLINK_MODEL_CACHE_DIR": str(path)}, "free": lambda: filler.unlink(missing_ok=True),
        }  # fmt: skip
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def prepare_training_campaign():
    """Demo alerts through the real ingest, in a campaign whose subjects are settled to their truth (made once,
    then the same campaign)."""
    from django.contrib.auth import get_user_model

    from fixtures.demo_alerts import write_demo_alerts
    from labeling.ingest import ingest_paths
    from labeling.models import REAL_BOGUS_CLASSES, Alert, Campaign, Subject
    from tests.activelearning.helpers import settle_with_truth

    existing = Campaign.objects.filter(slug="training").first()
    if existing is not None:
        return existing

    with tempfile.TemporaryDirectory() as tmp:
        report = ingest_paths(write_demo_alerts(Path(tmp), n=60, seed=7))
    owner = get_user_model().objects.get(username="bench-scientist")
    campaign = Campaign.objects.create(
        name="Training", slug="training", owner=owner, classes=REAL_BOGUS_CLASSES, state=Campaign.State.LIVE
    )
    alerts = Alert.objects.filter(pk__in=report.new_alert_ids).order_by("candid")
    Subject.objects.bulk_create([Subject(campaign=campaign, alert=a) for a in alerts])
    settle_with_truth(list(campaign.subjects.select_related("alert").order_by("pk"))[10:])
    return campaign


def active_braai():
    """The active real/bogus version (an untrained braai promoted, when there is none yet)."""
    from classifiers.models import ModelVersion
    from tests.conftest import register_untrained_braai

    active = ModelVersion.objects.filter(task="real_bogus", status="active").first()
    return active or register_untrained_braai(seed=0, promote=True)


def start_worker(ctx, *, env: dict | None = None, preexec_fn=None, log_name: str = "worker.log") -> subprocess.Popen:
    log = open(ctx.servers.log_dir / log_name, "ab")  # noqa: SIM115 - lives as long as the worker
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--queue-name", "*", "--no-reload", "--no-startup-delay",
         "--interval", "0.2"],
        cwd=bb.ROOT, env={**ctx.servers.env, "BLINK_TF_THREADS": "1", **(env or {})}, stdout=log,
        stderr=subprocess.STDOUT, preexec_fn=preexec_fn,
    )  # fmt: skip
