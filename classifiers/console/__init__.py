"""The ML lead console's reads, and its two kinds of write, shared by its pages (``frontend/views/console.py``)
and its API (``classifiers/api/console.py``).

- :mod:`.versions`: versions, the audit log, promote and roll back (through :mod:`classifiers.registry`, the one
  implementation);
- :mod:`.compare`: two versions on the same labelled candidates, and one version's metrics per slice;
- :mod:`.disagreements`: where the active model and the volunteers disagree, and sending those candidates for an
  expert answer (the subjects and notes are written by :mod:`labeling.expert_review`);
- :mod:`.reliability`: Rubin versions against Rubin's own reliability score, the reference where no human label
  exists (always said to be a model's opinion);
- :mod:`.cache`: the shared cache of what the reads compute.

Every page's reference-set figures are the stored ones, read by :func:`classifiers.reference_sets.reference_figures`.

Drift is read through :mod:`classifiers.drift.selectors`; the figures are the frontend's (``frontend/plots``).
"""
