"""Receivers of the named signals of the floors below, connected in ``ActivelearningConfig.ready()``."""
