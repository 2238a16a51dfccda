"""Staff sign-in: a password and a TOTP code, one login form for the admin and the DPO dashboard.

`STAFF_REQUIRE_SECOND_FACTOR` is on everywhere but on a developer's laptop (`local`), and cannot be
turned off in production. Failed attempts, of the password or of the code, are counted by
django-axes (`AXES_*` settings), which locks the account out after the limit; a code is accepted
once (django-otp keeps the last time step used per device).
"""

from axes.signals import user_locked_out
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.decorators import user_passes_test
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_totp.models import TOTPDevice


def is_signed_in(user) -> bool:
    """May this user reach the staff pages: an active member of staff who, where it is required,
    proved their second factor in this session."""
    if not (user.is_active and user.is_staff):
        return False
    return not settings.STAFF_REQUIRE_SECOND_FACTOR or user.is_verified()


# For staff views outside the admin (the DPO dashboard): not signed in sends to the login page.
staff_required = user_passes_test(is_signed_in, login_url="admin:login")


class StaffLoginForm(OTPAuthenticationFormMixin, AdminAuthenticationForm):
    otp_token = forms.CharField(
        label=_("Code from your authenticator app"),
        required=False,
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not settings.STAFF_REQUIRE_SECOND_FACTOR:
            del self.fields["otp_token"]

    def clean(self):
        super().clean()
        if settings.STAFF_REQUIRE_SECOND_FACTOR:
            # Each member of staff has one authenticator (`manage.py staff_totp` replaces it), so
            # there is no device to choose.
            device = TOTPDevice.objects.filter(user=self.get_user(), confirmed=True).first()
            self.cleaned_data["otp_device"] = device.persistent_id if device else None
            try:
                self.clean_otp(self.get_user())
            except ValidationError:
                # A wrong code counts as a failed sign-in, so that guessing codes is locked out as
                # guessing passwords is; and it reads as a wrong password, so that the message never
                # tells which of the two was right.
                user_login_failed.send(
                    sender=__name__,
                    credentials={"username": self.cleaned_data.get("username")},
                    request=self.request,
                )
                raise self.get_invalid_login_error() from None
        return self.cleaned_data


class StaffAdminSite(admin.AdminSite):
    login_form = StaffLoginForm

    def has_permission(self, request):
        return is_signed_in(request.user)


def client_description(username, ip_address, user_agent, path_info, request) -> str:
    """What django-axes writes into its log lines about a client: nothing that identifies the
    member of staff or their computer (no username, no IP address)."""
    return "a staff sign-in"


@receiver(user_locked_out)
def _audit_lockout(sender, request=None, username=None, **kwargs):
    """A lock-out goes into the audit log, for the DPO: the account, not the address it came from."""
    from django.contrib.auth import get_user_model

    from .audit import audit_record

    user = get_user_model().objects.filter(username=username).first() if username else None
    if user is not None:
        audit_record(action="staff.locked_out", actor=user)
