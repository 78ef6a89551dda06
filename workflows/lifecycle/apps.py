from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "workflows.lifecycle"
    label = "lifecycle"
    verbose_name = "Lifecycle and sign-off"
