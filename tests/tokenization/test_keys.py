"""Envelope encryption, key rotation and the start-up key checks."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.tokenization.conftest import VISA, b64key
from tokenization import conf, crypto, services
from tokenization.apps import startup_key_check
from tokenization.models import KeyCheck, Token

SCOPE = {"livemode": False, "actor": "test", "purpose": "key rotation test"}
TOKENS_FOR_ROTATION = 7


def _read(token_id: str, merchant_id: str) -> str:
    return services.detokenize(token_id=token_id, merchant_id=merchant_id, **SCOPE).number


@pytest.mark.django_db
def test_rotation_rewraps_every_card_so_the_old_key_can_be_removed(
    set_keyring, make_token, merchant
) -> None:
    set_keyring({"v1": 1}, active="v1")
    numbers = ["4242424242424242", "5555555555554444", "378282246310005", "6011111111111117"]
    tokens = [make_token(numbers[i % len(numbers)], cvc=None) for i in range(TOKENS_FOR_ROTATION)]
    assert set(Token.objects.values_list("key_version", flat=True)) == {"v1"}
    ciphertexts = dict(Token.objects.values_list("id", "encrypted_pan"))

    set_keyring({"v1": 1, "v2": 2}, active="v2")
    out = io.StringIO()
    call_command("rotate_vault_keys", "--batch-size", "3", "--no-progress", stdout=out)
    assert f"re-wrapped {TOKENS_FOR_ROTATION} token(s); 0 left" in out.getvalue()
    assert set(Token.objects.values_list("key_version", flat=True)) == {"v2"}
    # Only the data keys were re-wrapped; the card ciphertexts did not move.
    assert dict(Token.objects.values_list("id", "encrypted_pan")) == ciphertexts

    set_keyring({"v2": 2}, active="v2")
    merchant_id = merchant.merchant.pk
    for index, token in enumerate(tokens):
        assert _read(token.id, merchant_id) == numbers[index % len(numbers)]
    assert services.verify_keys() == []


@pytest.mark.django_db
def test_rotation_resumes_where_it_stopped_and_payments_keep_working(
    set_keyring, make_token, merchant
) -> None:
    set_keyring({"v1": 1}, active="v1")
    tokens = [make_token(cvc=None) for _ in range(5)]
    set_keyring({"v1": 1, "v2": 2}, active="v2")
    assert services.rewrap_batch(batch_size=2) == 2  # "interrupted" after one batch
    # Mid-rotation both versions are readable and new cards use the new key.
    assert all(_read(token.id, merchant.merchant.pk) == VISA for token in tokens)
    assert make_token(cvc=None).key_version == "v2"
    assert services.tokens_to_rewrap() == 3
    call_command("rotate_vault_keys", "--no-progress", stdout=io.StringIO())
    assert services.tokens_to_rewrap() == 0


@pytest.mark.django_db
def test_removing_a_key_still_in_use_is_caught(set_keyring, make_token, merchant) -> None:
    set_keyring({"v1": 1}, active="v1")
    token = make_token(cvc=None)
    set_keyring({"v2": 2}, active="v2")
    problems = services.verify_keys()
    assert problems and "'v1'" in problems[0]
    with pytest.raises(conf.VaultConfigError):
        _read(token.id, merchant.merchant.pk)
    with pytest.raises(conf.VaultConfigError):
        startup_key_check(environment="production")


@pytest.mark.django_db
def test_a_wrong_key_under_a_known_version_fails_the_key_check(set_keyring, make_token) -> None:
    set_keyring({"v1": 1}, active="v1")
    make_token(cvc=None)
    assert KeyCheck.objects.get(version="v1").kcv == crypto.key_check_value(bytes([1]) * 32)
    set_keyring({"v1": 7}, active="v1")  # same name, different key
    with pytest.raises(conf.VaultConfigError, match="key-check value"):
        startup_key_check(environment="production")
    with pytest.raises(conf.VaultConfigError, match="key-check value"):
        make_token(cvc=None)
    with pytest.raises(CommandError, match="key-check value"):
        call_command("check_vault_keys", stdout=io.StringIO())


def test_production_without_keys_refuses_to_start(monkeypatch) -> None:
    monkeypatch.delenv("VAULT_KEYRING", raising=False)
    monkeypatch.setenv("DJANGO_ENV", "production")
    with pytest.raises(conf.VaultConfigError, match="VAULT_KEYRING is not set"):
        startup_key_check(environment="production")


@pytest.mark.parametrize(
    ("keyring", "active", "fingerprint", "message"),
    [
        ("v1:" + b64key(1)[:-8], "v1", b64key(9), "bytes"),
        ("v1:not-base64!", "v1", b64key(9), "base64"),
        ("v1:" + b64key(1), "v2", b64key(9), "not a version"),
        ("v1:" + b64key(1), "", b64key(9), "VAULT_ACTIVE_KEY is not set"),
        ("v1:" + b64key(1), "v1", "", "VAULT_FINGERPRINT_KEY is not set"),
        ("v1:" + b64key(1) + ",v1:" + b64key(2), "v1", b64key(9), "twice"),
    ],
)
def test_malformed_keys_fail_loudly_with_the_variable_named(
    monkeypatch, keyring, active, fingerprint, message
) -> None:
    monkeypatch.setenv("VAULT_KEYRING", keyring)
    monkeypatch.setenv("VAULT_ACTIVE_KEY", active)
    monkeypatch.setenv("VAULT_FINGERPRINT_KEY", fingerprint)
    with pytest.raises(conf.VaultConfigError, match=message):
        conf.load_vault_keys()


def test_development_generates_a_keyring_once_under_local_dir(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("VAULT_KEYRING", raising=False)
    monkeypatch.setenv("DJANGO_ENV", "development")
    settings.LOCAL_DIR = tmp_path
    first = conf.load_vault_keys()
    second = conf.load_vault_keys()
    assert first.keyring == second.keyring and len(first.active_kek) == 32
    assert (tmp_path / "vault_keys.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.django_db
def test_a_ciphertext_moved_to_another_token_does_not_open(make_token, merchant) -> None:
    victim, other = make_token(VISA, cvc=None), make_token("5555555555554444", cvc=None)
    Token.objects.filter(pk=other.pk).update(
        encrypted_pan=victim.encrypted_pan, nonce=victim.nonce, wrapped_dek=victim.wrapped_dek
    )
    with pytest.raises(crypto.VaultDecryptionError):
        _read(other.id, merchant.merchant.pk)


@pytest.mark.slow
def test_a_production_process_without_vault_keys_does_not_start() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("VAULT_", "DJANGO"))
    }
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY="s" * 60,
        ALLOWED_HOSTS="pay.example",
        PUBLIC_BASE_URL="https://pay.example",  # production settings require it (3-D Secure)
        WEBHOOK_SECRET_KEY="w" * 44,  # required too; this test is about the vault's keys
        REFUND_ID_KEY="r" * 44,
    )
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "VAULT_KEYRING is not set" in result.stderr


ROTATION_TOKENS = 60
READ_ROUNDS = 3


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_payments_keep_reading_and_creating_cards_while_rotation_runs(
    set_keyring, make_token, merchant
) -> None:
    import threading

    from django.db import connection

    set_keyring({"v1": 1}, active="v1")
    tokens = [make_token(cvc=None) for _ in range(ROTATION_TOKENS)]
    set_keyring({"v1": 1, "v2": 2}, active="v2")
    errors: list[BaseException] = []

    def rotate() -> None:
        try:
            services.rewrap_all(batch_size=4)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    rotation = threading.Thread(target=rotate)
    rotation.start()
    reads = 0
    for _ in range(READ_ROUNDS):
        for token in tokens:
            assert _read(token.id, merchant.merchant.pk) == VISA
            reads += 1
        make_token(cvc=None)
    rotation.join()
    assert not errors, errors
    assert reads == READ_ROUNDS * ROTATION_TOKENS
    assert set(Token.objects.values_list("key_version", flat=True)) == {"v2"}
    set_keyring({"v2": 2}, active="v2")
    assert all(_read(token.id, merchant.merchant.pk) == VISA for token in tokens)
