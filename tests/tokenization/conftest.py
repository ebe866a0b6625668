"""Vault test helpers: a keyring set through the environment, test cards, token factory."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest

from tokenization import services
from tokenization.conf import vault_keys

VISA = "4242424242424242"
VISA_SPACED = "4242 4242 4242 4242"
AMEX = "378282246310005"
# Luhn-valid and in Visa's range, but no published test card: test mode refuses it, live takes it.
LIVE_VISA = "4539578763621486"


def b64key(seed: int) -> str:
    return base64.b64encode(bytes([seed]) * 32).decode()


@pytest.fixture
def set_keyring(monkeypatch) -> Iterator[Callable[..., None]]:
    """set_keyring({"v1": 1, "v2": 2}, active="v2"): the vault reads its keys from the
    environment as in production (each key is 32 bytes of the given seed)."""

    def apply(versions: dict[str, int], *, active: str, fingerprint_seed: int = 99) -> None:
        keyring = ",".join(f"{version}:{b64key(seed)}" for version, seed in versions.items())
        monkeypatch.setenv("VAULT_KEYRING", keyring)
        monkeypatch.setenv("VAULT_ACTIVE_KEY", active)
        monkeypatch.setenv("VAULT_FINGERPRINT_KEY", b64key(fingerprint_seed))
        services.reset_key_state()
        vault_keys()  # load now: a malformed keyring fails here, in the test that set it

    yield apply
    for name in ("VAULT_KEYRING", "VAULT_ACTIVE_KEY", "VAULT_FINGERPRINT_KEY"):
        monkeypatch.delenv(name, raising=False)
    services.reset_key_state()


@pytest.fixture(autouse=True)
def _fresh_key_state() -> Iterator[None]:
    services.reset_key_state()
    yield
    services.reset_key_state()


@pytest.fixture
def make_token(merchant) -> Callable[..., object]:
    def make(
        number: str = VISA,
        *,
        cvc: str | None = "123",
        merchant_id: str | None = None,
        livemode: bool = False,
        exp_month: int = 12,
        exp_year: int = 2034,
    ):
        return services.create_token(
            merchant_id=merchant_id or merchant.merchant.pk,
            livemode=livemode,
            number=number,
            exp_month=exp_month,
            exp_year=exp_year,
            cvc=cvc,
            holder_name="Jane Doe",
        )

    return make
