"""Has the sky (or the pipeline) changed under the model? Night-by-night drift of scores and inputs.

For every night (UTC date of the exposure) Blink keeps the distribution summary TensorBoard users know —
the percentiles max, 93, 84, 69, 50, 31, 16, 7, min — of:

- ``score``: the active model's score;
- ``magpsf``, ``fwhm``, ``elong``, ``sgscore1``: candidate fields the model's inputs depend on;
- ``stamp_diff_std``: the raw difference stamp's pixel standard deviation, and ``stamp_diff_mad`` /
  ``stamp_template_mad``: the robust spread (1.4826 x MAD) of the *preprocessed* difference and template
  stamps — a degraded template or a noisier subtraction shows here before it shows in the score;
- ``agreement``: per candidate with volunteer votes, 1 - |model score - fraction of volunteers saying
  positive| (1 = the model and the volunteers agree exactly).

and two drift statistics of each against a reference window (the first K nights, or configured dates):
the population stability index (PSI, ten bins fixed at the reference's deciles) and the two-sample
Kolmogorov-Smirnov statistic. A night is flagged when a variable's PSI or KS statistic reaches its
threshold *and* the KS test says the difference is not sampling noise (p < alpha): small nights are noisy.

The modules, in the order the data flows:

- :mod:`.config`: what is summarised (variables, percentiles) and the thresholds (:class:`DriftConfig`);
- :mod:`.inputs`: the database read as numpy arrays, stamp statistics on a seeded sample per night;
- :mod:`.statistics`: percentiles, PSI and KS on plain arrays, the flags;
- :mod:`.recompute`: the stored ``DriftNight`` rows, replaced at once, and the background task after ingests;
- :mod:`.selectors`: what the console pages and API read back.
"""
