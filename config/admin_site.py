"""The back office's admin site: staff sign in with username, password and TOTP code at once.

django-otp's admin login asks for the device in a second round ("Please select a device")
because it will not try a code against each device in turn. A user with exactly one confirmed
device has nothing to choose, so that device is taken and one POST signs in. A user with
several devices still chooses one. Failed passwords count towards django-axes' lockout
(settings: AXES_*), because the form authenticates through Django's `authenticate`.
"""

from __future__ import annotations

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
