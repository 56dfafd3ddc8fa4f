"""Every process (web server, worker, command) sets Django up; what the apps' ``ready()`` imports, each pays for."""

import subprocess
import sys

from django.conf import settings

HEAVY = ("tensorflow", "keras", "sklearn", "scipy", "modAL")


def test_setting_django_up_imports_no_machine_learning_library():
    script = f"import django, sys; django.setup(); print(' '.join(name for name in {HEAVY!r} if name in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=settings.BASE_DIR,
        env={"DJANGO_SETTINGS_MODULE": "config.settings", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert result.stdout.split() == []
