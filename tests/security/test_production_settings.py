"""Django's deployment checklist passes under the production settings, which refuse to start without a real
secret key and explicit allowed hosts."""

from __future__ import annotations

import os
import runpy
import secrets
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import run_manage

ROOT = Path(settings.BASE_DIR)


def _prod_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DJANGO_SETTINGS_MODULE="config.production", **extra)
    return env


def test_check_deploy_is_clean_under_the_production_settings():
    env = _prod_env(DJANGO_SECRET_KEY=secrets.token_urlsafe(64), DJANGO_ALLOWED_HOSTS="blink.example.org")
    run = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_production_refuses_to_start_without_a_real_secret_key():
    env = _prod_env(DJANGO_ALLOWED_HOSTS="blink.example.org")
    run = run_manage("check", env=env)
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.stderr
    assert "DJANGO_SECRET_KEY" in run.stderr


@pytest.mark.parametrize(
    "key",
    ["", "short-key", "blink-insecure-development-key-do-not-use-in-production", "a" * 60],
    ids=["empty", "short", "development-key", "one-character-repeated"],
)
def test_production_settings_reject_weak_secret_keys(monkeypatch, key):
    monkeypatch.setenv("DJANGO_SECRET_KEY", key)
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "blink.example.org")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        runpy.run_path(str(ROOT / "config" / "production.py"))


def test_production_settings_need_explicit_allowed_hosts(monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", secrets.token_urlsafe(64))
    monkeypatch.delenv("DJANGO_ALLOWED_HOSTS", raising=False)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_ALLOWED_HOSTS"):
        runpy.run_path(str(ROOT / "config" / "production.py"))


def test_production_settings_are_secure(monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", secrets.token_urlsafe(64))
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "blink.example.org")
    prod = runpy.run_path(str(ROOT / "config" / "production.py"))
    assert prod["DEBUG"] is False
    assert prod["SESSION_COOKIE_SECURE"] is True
    assert prod["CSRF_COOKIE_SECURE"] is True
    assert prod["SESSION_COOKIE_HTTPONLY"] is True
    assert prod["SECURE_HSTS_SECONDS"] >= 31536000
    assert prod["ALLOWED_HOSTS"] == ["blink.example.org"]
    assert prod["CSRF_TRUSTED_ORIGINS"] == ["https://blink.example.org"]


def test_the_base_settings_refuse_the_development_key_when_debug_is_off(monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "0")
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        runpy.run_path(str(ROOT / "config" / "settings.py"))
    monkeypatch.setenv("DJANGO_SECRET_KEY", secrets.token_urlsafe(64))
    assert runpy.run_path(str(ROOT / "config" / "settings.py"))["DEBUG"] is False
