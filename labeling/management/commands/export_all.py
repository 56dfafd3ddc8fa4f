"""manage.py export_all --out FILE: the whole Blink database as one gzipped JSON-lines backup."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labeling.backups import BackupError, export_all


class Command(BaseCommand):
    help = (
        "Write every alert (stamps, light curves), campaign (tutorial, field guide, subjects, gold answers, "
        "consensus), vote, Talk comment, user account and role, model version (weights + sha256), registry "
        "event and score to one gzipped JSON-lines file, from a single consistent snapshot and streamed, so "
        "large databases never load into memory. Password hashes are left out unless "
        "--with-password-hashes is given. Restore with `manage.py import_all FILE`."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path, help="Backup file to write (e.g. blink.jsonl.gz)")
        parser.add_argument(
            "--with-password-hashes",
            action="store_true",
            help="Also store password hashes, so restored accounts keep their passwords (keep the file secret)",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bars")

    def handle(self, *args, out: Path, with_password_hashes: bool, no_progress: bool, **options):
        bars = []

        def progress(label: str, total: int):
            bar = tqdm(total=total, desc=label, unit="row", disable=no_progress, leave=False)
            bars.append(bar)
            return bar.update

        try:
            report = export_all(out=out, with_password_hashes=with_password_hashes, progress=progress)
        except (BackupError, OSError) as exc:
            raise CommandError(f"export failed: {exc}") from exc
        finally:
            for bar in bars:
                bar.close()
        for label, n in report.counts.items():
            if n:
                self.stdout.write(f"  {label:<36} {n:>10}")
        size = out.stat().st_size
        self.stdout.write(
            self.style.SUCCESS(f"Wrote {report.total} rows of {len(report.counts)} models to {out} ({size:,} bytes).")
        )
        if not with_password_hashes:
            self.stdout.write("Password hashes were left out: restored accounts will need a password reset.")
