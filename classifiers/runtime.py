"""TensorFlow, imported once and set up for Blink's machines.

Importing TensorFlow costs seconds, so nothing at module level in the web-facing parts of Blink imports it:
they call :func:`tensorflow` (or :func:`keras`) when a model is actually needed.
"""

from __future__ import annotations

import os
import threading

from core.conf import blink_setting

_lock = threading.Lock()
_configured = False


def cpu_threads() -> int:
    """Threads TensorFlow may use: ``blink_setting("TF_THREADS")`` when set, else the CPUs this process may run on."""
    configured = blink_setting("TF_THREADS")
    if configured > 0:
        return configured
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def tensorflow():
    """The ``tensorflow`` module, with its thread pools sized once for this process."""
    global _configured
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    if not _configured:
        with _lock:
            if not _configured:
                threads = cpu_threads()
                try:
                    # One pool as wide as the machine for the convolutions; a second pool of the same width
                    # would only make the two fight over the same two cores.
                    tf.config.threading.set_intra_op_parallelism_threads(threads)
                    tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
                except RuntimeError:
                    # The runtime was already started by someone else (a test, modAL's wrapper): keep its pools.
                    pass
                # Per-model tf.functions (one per trained member) trip TensorFlow's retracing warning needlessly.
                tf.get_logger().setLevel("ERROR")
                _configured = True
    return tf


def keras():
    tensorflow()
    import keras as keras_module

    return keras_module
