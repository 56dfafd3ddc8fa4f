"""manage.py import_all FILE: restore a backup written by export_all, all or nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labeling.backups import BackupError, import_all


class Command(BaseCommand):
    help = (
        "Restore a backup written by `manage.py export_all` into this migrated database, holding no Blink data, in "
        "one transaction (a damaged or truncated file leaves it as it was); --force replaces the Blink data it holds "
        "(accounts included). Accounts from a backup made without --with-password-hashes get an unusable password."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="Backup file written by export_all")
        parser.add_argument("--force", action="store_true", help="Replace the Blink data this database already holds")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")

    def handle(self, *args, file: Path, force: bool, no_progress: bool, **options):
        bar = tqdm(desc="restoring", unit="row", disable=no_progress, leave=False)

        def progress(label: str, n: int):
            bar.set_description(label)
            bar.update(n)

        try:
            report = import_all(path=file, force=force, progress=progress)
        except BackupError as exc:
            raise CommandError(f"nothing was restored: {exc}") from exc
        finally:
            bar.close()
        for label, n in report.counts.items():
            if n:
                self.stdout.write(f"  {label:<36} {n:>10}")
        self.stdout.write(
            self.style.SUCCESS(f"Restored {report.total} rows of {len(report.counts)} models from {file}.")
        )
