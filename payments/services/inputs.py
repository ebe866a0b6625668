"""What callers hand the payment services: who acts, and a validated new payment."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who asked for a change: `api:<key id>`, `admin:<username>`, `system:<job>`."""

    name: str

    @classmethod
    def api(cls, api_key_id: str) -> Actor:
        return cls(f"api:{api_key_id}")

    @classmethod
    def staff(cls, username: str) -> Actor:
        return cls(f"admin:{username}")

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(f"system:{job}")


@dataclass(frozen=True)
class NewPayment:
    """A validated create request (the serializer has checked types and limits)."""

    merchant_id: str
    livemode: bool
    amount_minor: int
    currency: str
    capture: bool
    token_id: str = ""
    wallet_type: str = ""
    wallet_token: str = ""
    description: str = ""
    metadata: dict[str, str] | None = None
    customer_email: str = ""
    customer_ip: str | None = None
    return_url: str = ""
