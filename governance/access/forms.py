"""Forms of the access pages. They validate input; services decide."""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone

from .models import User
from .roles import ObjectRole


class GrantForm(forms.Form):
    """Share a model with one user or one group."""

    username = forms.CharField(required=False, max_length=150, label="User", help_text="Their username.")
    group = forms.ModelChoiceField(
        queryset=Group.objects.order_by("name"), required=False, to_field_name="name", empty_label="(no group)"
    )
    role = forms.ChoiceField(choices=ObjectRole.choices)

    def __init__(self, *args, roles: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the roles this person may give are offered (the service refuses the others anyway).
        if roles is not None:
            self.fields["role"].choices = [(value, label) for value, label in ObjectRole.choices if value in roles]

    def clean(self):
        data = super().clean()
        username, group = data.get("username", "").strip(), data.get("group")
        if bool(username) == bool(group):
            raise forms.ValidationError("Name either a user or a group.")
        if username:
            data["user"] = User.objects.filter(username=username).first()
            if data["user"] is None:
                self.add_error("username", f"No user called '{username}'.")
        return data


class TokenForm(forms.Form):
    EXPIRY_CHOICES = [("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")]

    label = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'CI pipeline'.")
    expires_in = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES, coerce=int, empty_value=None, required=False, label="Expires"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # No choice means the default expiry of token_create (GOVERNANCE_TOKEN_DEFAULT_DAYS).
        days = settings.GOVERNANCE_TOKEN_DEFAULT_DAYS
        default = ("", f"In {days} days (default)" if days else "Never")
        self.fields["expires_in"].choices = [default] + [c for c in self.EXPIRY_CHOICES if c[0] != str(days)]

    @property
    def expires_at(self):
        days = self.cleaned_data.get("expires_in")
        return timezone.now() + timedelta(days=days) if days else None
