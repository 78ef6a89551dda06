from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "governance.access"
    label = "access"
    verbose_name = "People and access"
