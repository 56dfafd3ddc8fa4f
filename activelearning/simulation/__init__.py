"""Replaying the loop offline: how many labels does each query strategy need for a given model quality?

An oracle answers every query: the demo generator's known truth, or, for real ZTF packets, labels derived from
braai's own ``drb`` score (``drb > 0.9`` real, ``drb < 0.1`` bogus, the rest left out). Those are **braai's outputs,
not human labels**, and the report says so.

For each strategy and seed: the same ``initial`` random labels, then ``rounds`` rounds of "query ``batch`` subjects,
label them, retrain". Each round the model is evaluated (ROC AUC) on a fixed test set of objects that never enter
the pool. modAL drives it: an ``ActiveLearner`` over :class:`~activelearning.estimators.KerasBinaryClassifier`
queries with modAL's uncertainty / margin / entropy sampling, a ``Committee`` of seeds with vote entropy, and
modAL's ranked batch-mode sampler on the network's penultimate-layer embeddings; "random" draws uniformly.
Retraining is the fast path of the live loop: warm start from the previous round's weights, a few epochs on all
labels so far (with flips and rotations). The model is braai's VGG6 by default (``--model small`` uses the compact
CNN of a DeepStreaks member instead).

The **label saving** of a strategy: ``1 - n_strategy / n_random``, where ``n_x`` is the number of labels at which
the strategy's mean learning curve (over seeds) first reaches random's final mean AUC (linear interpolation between
rounds; random's own ``n`` is found the same way, which can only make the saving smaller).

The **transfer scenario** replays a change of labelling standard on real alerts: it starts from a published model
(braai d6_m9, fed its own input recipe), the oracle is another model's verdict (d6_m7's ``drb > 0.5``), every batch
is followed by a fine-tune, and the quality is Spearman's correlation with ``drb`` on the test objects; the saving
is then counted at a fixed target (``Settings.metric``, ``Settings.target``) rather than at random's final value.

The modules follow the run: :mod:`.data` (the labelled arrays and the fixed test set), :mod:`.replay` (one
learning curve), :mod:`.curves` (mean curves and label savings), :mod:`.report` (the log, plots and summary).
The demo data set is made by ``fixtures.datasets``, above every app.
"""
