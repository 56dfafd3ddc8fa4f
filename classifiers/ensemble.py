"""The DeepStreaks-style streak ensemble: three groups of binary CNNs and the published decision logic.

DeepStreaks (Duev et al. 2019, arXiv:1904.05920) splits "is this a streaking near-Earth asteroid?" into three
questions, each answered by a group of networks: real vs bogus streak (``rb``), short vs long (``sl``) and keep
vs ditch (``kd``). A candidate is *plausible* when at least one member of every group scores above that
group's threshold. Thresholds are chosen on validation data and stored with the version.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GROUPS = ("rb", "sl", "kd")
GROUP_QUESTIONS = {
    "rb": "real streak (1) or bogus (0)",
    "sl": "short streak (1) or long (0)",
    "kd": "keep as a plausible asteroid (1) or ditch (0)",
}

# Streak-type labels (labeling.models.STREAK_CLASSES, and demo truth) as answers to the three questions.
# None: the question does not apply (a masked star is neither short nor long), so that member group does not
# train on it. A real point source ("real" demo truth) is not a streak at all, so rb calls it bogus: DeepStreaks'
# "real" means a real streak. "blank" (skip / blank stamps) is likewise no streak.
STREAK_TARGETS: dict[str, tuple[int, int | None, int]] = {
    "asteroid": (1, 1, 1),
    "plausible_asteroid": (1, 1, 1),
    "satellite": (1, 0, 0),
    "satellite_flash": (1, 0, 0),
    "masked_star": (0, None, 0),
    "ghost": (0, None, 0),
    "cosmic_ray": (0, None, 0),
    "yin_yang": (0, None, 0),
    "naked_star": (0, None, 0),
    "real": (0, None, 0),
    "blank": (0, None, 0),
}
PLAUSIBLE_CLASSES = frozenset(k for k, (rb, sl, kd) in STREAK_TARGETS.items() if rb == 1 and sl == 1 and kd == 1)


def streak_targets(labels: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per group: (targets 0/1 as float32, mask 1 where the question applies) for these streak-type labels."""
    unknown = sorted({label for label in labels if label not in STREAK_TARGETS})
    if unknown:
        raise ValueError(
            f"unknown streak-type label(s): {', '.join(unknown)}; expected one of {', '.join(STREAK_TARGETS)}"
        )
    out = {}
    for g, group in enumerate(GROUPS):
        answers = [STREAK_TARGETS[label][g] for label in labels]
        targets = np.array([0 if a is None else a for a in answers], dtype=np.float32)
        mask = np.array([a is not None for a in answers], dtype=np.float32)
        out[group] = (targets, mask)
    return out


def calibrated(group_max: np.ndarray, threshold: float) -> np.ndarray:
    """Map a group's best member score so that its threshold lands on 0.5 (piecewise linear, monotonic)."""
    t = float(np.clip(threshold, 1e-6, 1 - 1e-6))
    return np.where(group_max < t, 0.5 * group_max / t, 0.5 + 0.5 * (group_max - t) / (1 - t))


@dataclass
class StreakEnsemble:
    """Loaded members per group and the stored group thresholds."""

    members: dict[str, list] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    name: str = "deepstreaks_ensemble"

    def member_scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per group, an (N, members) array of member scores."""
        from classifiers.inference import predictor_for

        return {g: np.stack([predictor_for(m).scores(x) for m in self.members[g]], axis=1) for g in GROUPS}

    def decide(self, member_scores: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(score, plausible): plausible when at least one member of every group is at or above its threshold.

        The single score is the weakest group's best member, calibrated so that every threshold sits at 0.5: a
        score >= 0.5 is exactly the published decision, and the score orders candidates for queues and exports.
        """
        per_group = [calibrated(member_scores[g].max(axis=1), self.thresholds[g]) for g in GROUPS]
        score = np.min(np.stack(per_group, axis=1), axis=1).astype(np.float32)
        plausible = np.all(
            np.stack([member_scores[g].max(axis=1) >= self.thresholds[g] for g in GROUPS], axis=1), axis=1
        )
        return score, plausible

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        scores = self.member_scores(x)
        score, plausible = self.decide(scores)
        return score, plausible, scores

    # -- the registry's single blob: a zip of member .keras files and a manifest --------------------------------
    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        manifest = {"thresholds": self.thresholds, "groups": {}}
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for group in GROUPS:
                names = []
                for i, member in enumerate(self.members[group]):
                    name = f"{group}-{i + 1}.keras"
                    path = Path(tmp) / name
                    member.save(path)
                    archive.write(path, name)
                    names.append(name)
                manifest["groups"][group] = names
            archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> StreakEnsemble:
        from classifiers.runtime import keras

        k = keras()
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            members: dict[str, list] = {}
            for group in GROUPS:
                members[group] = []
                for name in manifest["groups"][group]:
                    path = Path(tmp) / Path(name).name
                    path.write_bytes(archive.read(name))
                    members[group].append(k.models.load_model(path, compile=False))
        return cls(members=members, thresholds={g: float(t) for g, t in manifest["thresholds"].items()})
