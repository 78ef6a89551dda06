from django.apps import AppConfig


class TestSuitesConfig(AppConfig):
    name = "workflows.testsuites"
    label = "testsuites"
    verbose_name = "Test suites and warm-up"
