"""``manage.py import_model``: register a published Keras 2 braai weights file as a model version."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classifiers.models import BRAAI_TASKS, Task


class Command(BaseCommand):
    help = (
        "Import an external Keras 2 HDF5 braai weights file (e.g. dmitryduev/braai's models/d6_m7.weights.h5) as "
        "the task's next version, a candidate unless --activate. The input recipe is not in the file: give it "
        "(--recipe row for d6_m7 and earlier, cutout for d6_m9), since the same weights fed another recipe are "
        "another classifier. A file whose layers or shapes differ from braai's VGG6 is refused, and nothing is "
        "registered."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the .h5 weights file")
        parser.add_argument(
            "--task",
            default=Task.REAL_BOGUS,
            choices=sorted(BRAAI_TASKS),
            help="the task it serves (default real_bogus); rubin_real_bogus registers braai as a Rubin version, "
            "its stamps centre-cropped or padded to 63x63 (braai without fine-tuning on Rubin stamps)",
        )
        parser.add_argument("--name", required=True, help="the published version's name, e.g. d6_m7")
        parser.add_argument(
            "--recipe",
            required=True,
            choices=["row", "cutout"],
            help="input normalisation: each row of a cutout (row) or the whole cutout (cutout) by its L2 norm",
        )
        parser.add_argument("--pad-value", type=float, default=1e-9, help="what pads an edge cutout (braai: 1e-9)")
        parser.add_argument("--source", default="", help="where the file comes from (repository @ commit)")
        parser.add_argument(
            "--licence-file", help="the licence text to keep with it (default: a LICENSE beside the file, if any)"
        )
        parser.add_argument("--activate", action="store_true", help="make it the task's active version")
        parser.add_argument("--reason", default="", help="the audit log's reason (required with --activate)")

    def handle(self, *args, **opts):
        from classifiers.braai_import import ModelFileRefused, import_keras2_braai, licence_summary
        from classifiers.preprocessing import InputRecipe
        from classifiers.registry import RegistryError, recipe_of

        path = Path(opts["file"])
        licence_path = Path(opts["licence_file"]) if opts["licence_file"] else path.parent / "LICENSE"
        if opts["licence_file"] and not licence_path.exists():
            raise CommandError(f"--licence-file: {licence_path} does not exist")
        licence_text = licence_path.read_text() if licence_path.exists() else ""
        if opts["activate"] and not opts["reason"].strip():
            raise CommandError("--activate needs --reason: the audit log says why the active model changed")
        try:
            version = import_keras2_braai(
                path,
                task=opts["task"],
                name=opts["name"],
                recipe=InputRecipe(normalisation=opts["recipe"], pad_value=opts["pad_value"]),
                source=opts["source"] or f"file {path.name}",
                licence=licence_summary(licence_text) if licence_text else "unknown (no licence file given)",
                licence_text=licence_text,
                activate=opts["activate"],
                reason=opts["reason"],
            )
        except (ModelFileRefused, RegistryError) as error:
            raise CommandError(f"refused, nothing registered: {error}") from error
        p = version.provenance
        self.stdout.write(
            self.style.SUCCESS(
                f"registered {version.label} ({version.status}): {p['name']} from {p['file']} "
                f"sha256 {p['sha256'][:12]}, licence {p['licence']}, input recipe {recipe_of(version).describe()}"
            )
        )
