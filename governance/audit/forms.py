"""The trail's filters, shared by the audit page, its exports and the API."""

from __future__ import annotations

from datetime import datetime, time, timezone as dt_timezone

from django import forms

from .models import EventKind


class EventFilterForm(forms.Form):
    model = forms.SlugField(required=False, max_length=100, label="Model (slug)")
    version = forms.IntegerField(required=False, min_value=1, label="Version")
    actor = forms.CharField(required=False, max_length=150, label="Actor (username)")
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind")] + list(EventKind.choices))
    action = forms.CharField(required=False, max_length=60, label="Action", help_text="e.g. login or login.failed")
    since = forms.DateTimeField(required=False, label="From", help_text="YYYY-MM-DD or an ISO time, UTC")
    until = forms.DateTimeField(required=False, label="Until", help_text="exclusive")
    correlation_id = forms.CharField(required=False, max_length=64, label="Correlation id")

    # ISO 8601 as well as Django's default input formats.
    def _parse_when(self, name: str):
        raw = (self.data.get(name) or "").strip()
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise forms.ValidationError(f"“{raw}” is not a date or an ISO 8601 time.", code="invalid")
        if len(raw) == 10:  # a day: from its start
            value = datetime.combine(value.date(), time.min)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt_timezone.utc)
        return value

    def clean_since(self):
        return self._parse_when("since")

    def clean_until(self):
        return self._parse_when("until")

    def filters(self) -> dict:
        """The cleaned filters as keyword arguments of ``selectors.events_filter``."""
        data = self.cleaned_data
        return {
            "model": data.get("model") or "",
            "version": data.get("version"),
            "actor": data.get("actor") or "",
            "kind": data.get("kind") or "",
            "action": data.get("action") or "",
            "since": data.get("since"),
            "until": data.get("until"),
            "correlation_id": data.get("correlation_id") or "",
        }

    def active_filters(self) -> dict:
        """The filters in use, as text, for recording with an access event and for links."""
        return {key: self.data.get(key) for key in self.fields if self.data.get(key)}


class ChampionOnForm(forms.Form):
    champion_on = forms.DateTimeField(label="Champion on", help_text="YYYY-MM-DD or an ISO time, UTC")

    def clean_champion_on(self):
        raw = (self.data.get("champion_on") or "").strip()
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise forms.ValidationError(f"“{raw}” is not a date or an ISO 8601 time.", code="invalid")
        if len(raw) == 10:  # a whole day: the champion at its end
            value = datetime.combine(value.date(), time.max)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt_timezone.utc)
        return value
