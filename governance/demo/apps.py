from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for a newcomer's laptop: ``manage.py seed_demo`` and the sample models it trains.

    It sits on top of every other app (it registers, submits, signs off and promotes through
    their services), like the project wiring; no other app imports it. Tests and benchmarks use
    ``sample_models`` for real, small models.
    """

    name = "governance.demo"
    label = "demo"
    verbose_name = "Demo data"
