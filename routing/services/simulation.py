"""Test mode only: make a simulated customer pay, through the provider simulator's control API.

Payments' test helpers (`POST /api/test_helpers/payments/{id}/simulate_payment`) use this so a
QR payment completes the way it does in production: the provider's signed webhook arrives at
`/api/webhooks/{provider}` and is processed like any other.
"""

from __future__ import annotations

from core.errors import InvalidState
from routing.adapters.simulator import SimulatorAdapter
from routing.services.adapters import adapter_for


def simulate_qr_payment(*, provider: str, qr_reference: str, amount_minor: int | None) -> None:
    """The customer pays the QR payment registered at `provider` under `qr_reference` (with
    `amount_minor`, default the amount asked). Call with no transaction open. Raises
    InvalidState when the provider is not the simulator or refuses (paid, expired)."""
    adapter = adapter_for(provider)
    if not isinstance(adapter, SimulatorAdapter):
        raise InvalidState(
            f"Provider {provider} cannot simulate a payment.", code="simulation_unavailable"
        )
    refused = adapter.simulate_qr_payment(qr_reference=qr_reference, amount_minor=amount_minor)
    if refused:
        raise InvalidState(
            f"The simulator refused the payment: {refused}.", code="simulation_refused"
        )
