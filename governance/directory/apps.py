from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "governance.directory"
    label = "directory"
    verbose_name = "Company directory (SCIM)"
