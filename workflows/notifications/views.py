"""The inbox and the email preferences: thin views over the selectors and services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from governance.errors import ActionError

from . import recipients, selectors, services
from .mail import compose
from .models import REVIEWER_MANDATORY, NotificationEvent


@login_required
def inbox(request):
    notifications = selectors.notifications_of(user=request.user)
    page = Paginator(notifications, 50).get_page(request.GET.get("page"))
    rows = [{"notification": notification, "message": compose(notification)} for notification in page]
    return render(request, "notifications/inbox.html", {"page": page, "rows": rows})


@login_required
def notification_open(request, pk):
    """Follow a notification to what it is about, marking it read."""
    notification = selectors.notification_get(user=request.user, pk=pk)
    services.notification_mark_read(actor=request.user, notification=notification)
    return redirect(compose(notification).path)


@login_required
@require_POST
def notification_read(request, pk):
    notification = selectors.notification_get(user=request.user, pk=pk)
    services.notification_mark_read(actor=request.user, notification=notification)
    return redirect("notifications:inbox")


@login_required
@require_POST
def notifications_read_all(request):
    count = services.notifications_mark_all_read(actor=request.user)
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked as read.")
    return redirect("notifications:inbox")


@login_required
def preferences(request):
    locked = set(REVIEWER_MANDATORY) if recipients.holds_reviewer_grant(request.user) else set()
    status, error = 200, ""
    if request.method == "POST":
        wanted = set(request.POST.getlist("email")) | locked
        try:
            services.email_preferences_set(actor=request.user, user=request.user, email_events=wanted)
        except ActionError as exc:
            status, error = exc.status, exc.message
        else:
            messages.success(request, "Your email preferences are saved.")
            return redirect("notifications:preferences")
        chosen = set(request.POST.getlist("email"))
    else:
        chosen = services.email_events_of(request.user)
    rows = [
        {"event": value, "label": label, "email": value in chosen or value in locked, "locked": value in locked}
        for value, label in NotificationEvent.choices
    ]
    return render(
        request, "notifications/preferences.html", {"rows": rows, "error": error, "has_email": bool(request.user.email)},
        status=status,
    )
