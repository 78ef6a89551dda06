"""Sign out a deactivated user on their very next request."""

from django.contrib.auth import logout


class ActiveUserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        # ModelBackend already refuses inactive users when it loads the session; this also
        # clears the session itself so nothing of it lingers.
        if user is not None and user.is_authenticated and not user.is_active:
            logout(request)
        return self.get_response(request)
