"""The back office's admin site: staff sign in with username, password and TOTP code at once.

django-otp's admin login asks for the device in a second round ("Please select a device")
because it will not try a code against each device in turn. A user with exactly one confirmed
device has nothing to choose, so that device is taken and one POST signs in. A user with
several devices still chooses one. Failed passwords count towards django-axes' lockout
(settings: AXES_*), because the form authenticates through Django's `authenticate`.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class OneStepOTPAdminAuthenticationForm(OTPAdminAuthenticationForm):
    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is not None or self.cleaned_data.get("otp_device"):
            return device
        # Called inside clean_otp's transaction: the device row is locked for the verification.
        devices = list(devices_for_user(user, confirmed=True, for_verify=True))
        return devices[0] if len(devices) == 1 else None


class StaffAdminSite(OTPAdminSite):
    """OTPAdminSite (staff must be verified by a device) with the one-step login form."""

    login_form = OneStepOTPAdminAuthenticationForm


def client_ip(request: HttpRequest) -> str | None:
    """The client's address for the sign-in lockout (AXES_CLIENT_IP_CALLABLE): behind
    TRUSTED_PROXY_COUNT proxies, the address the outermost of ours appended to X-Forwarded-For
    (entries further left are the client's own word and can be forged); else REMOTE_ADDR."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [hop for hop in forwarded if hop]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")
