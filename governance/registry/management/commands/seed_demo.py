"""``python manage.py seed_demo``: demo people, models, datasets and versions.

A newcomer should land in a living portal: one user per role (their logins are printed), and
models trained on data sets that ship with scikit-learn, registered through the same services
the pages and the API use. Running it again changes nothing and prints the logins again.
Versions are left in draft; moving them along the lifecycle is the workflows' job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from governance.access.models import User
from governance.access.roles import GlobalRole, ObjectRole
from governance.access.services import grant_create
from governance.registry import sample_models, services
from governance.registry.models import Dataset, MLModel, RiskTier, Task

DEMO_PASSWORD = "demo-pass-2026"


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: str
    is_superuser: bool = False


DEMO_USERS = [
    DemoUser("dana", "Dana", "Whitfield", GlobalRole.DATA_SCIENTIST),
    DemoUser("val", "Val", "Ortiz", GlobalRole.VALIDATOR),
    DemoUser("vera", "Vera", "Lindqvist", GlobalRole.VALIDATOR),
    DemoUser("otto", "Otto", "Brandt", GlobalRole.OPERATOR),
    DemoUser("audra", "Audra", "Kowalski", GlobalRole.AUDITOR),
    DemoUser("adam", "Adam", "Reyes", GlobalRole.ADMIN, is_superuser=True),
]


@dataclass
class DemoVersion:
    fmt: str
    note: str
    code_commit: str


@dataclass
class DemoModel:
    name: str
    slug: str
    task: str
    risk_tier: str
    description: str
    code_repository: str
    # () -> (train_df, valid_df, target, fitted model)
    build: Callable
    versions: list[DemoVersion] = field(default_factory=list)


def _breast_cancer():
    train, valid, target = sample_models.breast_cancer_frames()
    return train, valid, target, sample_models.train_classifier(train, target)


def _diabetes():
    train, valid, target = sample_models.diabetes_frames()
    return train, valid, target, sample_models.train_regressor(train, target)


def _wine():
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    frame = load_wine(as_frame=True).frame
    train, valid = train_test_split(
        frame, test_size=sample_models.VALID_FRACTION, random_state=sample_models.RANDOM_STATE, stratify=frame["target"]
    )
    train, valid = train.reset_index(drop=True), valid.reset_index(drop=True)
    return train, valid, "target", sample_models.train_classifier(train, "target")


DEMO_MODELS = [
    DemoModel(
        name="Breast cancer screening",
        slug="breast-cancer-screening",
        task=Task.CLASSIFICATION,
        risk_tier=RiskTier.HIGH,
        description=(
            "Flags fine-needle aspirate images whose cell-nucleus measurements look malignant, "
            "so that a pathologist reviews them first. Trained on the Wisconsin diagnostic "
            "breast cancer data set (target 1 = benign). High risk: two independent approvals."
        ),
        code_repository="https://git.example.com/health/breast-cancer-screening",
        build=_breast_cancer,
        versions=[
            DemoVersion("onnx", "Baseline: standardised logistic regression on all 30 measurements, exported to ONNX.", "a41c7e2"),
            DemoVersion("skops", "The same pipeline saved with skops for the scikit-learn scoring path.", "b93d015"),
        ],
    ),
    DemoModel(
        name="Diabetes progression",
        slug="diabetes-progression",
        task=Task.REGRESSION,
        risk_tier=RiskTier.MEDIUM,
        description=(
            "Predicts a quantitative measure of disease progression one year after baseline "
            "from age, sex, BMI, blood pressure and six blood serum measurements."
        ),
        code_repository="https://git.example.com/health/diabetes-progression",
        build=_diabetes,
        versions=[DemoVersion("onnx", "Ridge regression on the ten baseline variables.", "5e0f9aa")],
    ),
    DemoModel(
        name="Wine cultivar",
        slug="wine-cultivar",
        task=Task.CLASSIFICATION,
        risk_tier=RiskTier.LOW,
        description="Tells which of three cultivars a wine comes from, from 13 chemical measurements. "
        "A low-risk model for trying the workflow end to end.",
        code_repository="https://git.example.com/lab/wine-cultivar",
        build=_wine,
        versions=[DemoVersion("skops", "Logistic regression on the 13 measurements.", "0d4be71")],
    ),
]


class Command(BaseCommand):
    help = "Create demo users (one per role), models, datasets and versions. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DJANGO_ENV=production (the demo accounts share a published password).",
        )

    def handle(self, *args, allow_production: bool = False, **options):
        if settings.PRODUCTION and not allow_production:
            raise CommandError(
                "Refusing to create demo accounts with a published password in production. "
                "Pass --allow-production if this really is a demo installation."
            )
        users = {spec.username: self._user(spec) for spec in DEMO_USERS}
        made = []
        for spec in DEMO_MODELS:
            made.append(self._model(spec, users))
        self._print_summary(users, made)

    # --- people ---------------------------------------------------------------------------
    def _user(self, spec: DemoUser) -> User:
        user = User.objects.filter(username=spec.username).first()
        if user is None:
            user = User.objects.create_user(
                username=spec.username,
                password=DEMO_PASSWORD,
                email=f"{spec.username}@demo.example",
                first_name=spec.first_name,
                last_name=spec.last_name,
                is_superuser=spec.is_superuser,
                is_staff=spec.is_superuser,
            )
        # Re-adding an existing group membership is a no-op, so a second run changes nothing.
        user.groups.add(Group.objects.get(name=spec.role))
        return user

    # --- models, datasets, versions -------------------------------------------------------
    def _model(self, spec: DemoModel, users: dict[str, User]) -> MLModel:
        dana = users["dana"]
        model = MLModel.objects.filter(slug=spec.slug).first()
        if model is None:
            model = services.model_create(
                user=dana,
                name=spec.name,
                slug=spec.slug,
                task=spec.task,
                risk_tier=spec.risk_tier,
                description=spec.description,
            )
        # grant_create is idempotent: an existing grant is found, not duplicated.
        for username in ("val", "vera"):
            grant_create(model=model, user=users[username], role=ObjectRole.REVIEWER, granted_by=dana)
        grant_create(model=model, user=users["otto"], role=ObjectRole.OPERATOR, granted_by=dana)

        missing = spec.versions[model.versions.count():]
        if not missing:
            return model
        train, valid, target, estimator = spec.build()
        training = self._dataset(dana, f"{spec.name} · training", train, target)
        validation = self._dataset(dana, f"{spec.name} · validation", valid, target)
        for version in missing:
            if version.fmt == "onnx":
                artifact = sample_models.to_onnx_bytes(estimator)
            else:
                artifact = sample_models.to_skops_bytes(estimator)
            with transaction.atomic():
                services.version_create(
                    user=dana,
                    model=model,
                    artifact=SimpleUploadedFile(f"{spec.slug}.{version.fmt}", artifact),
                    training_dataset=training,
                    validation_dataset=validation,
                    code_repository=spec.code_repository,
                    code_commit=version.code_commit,
                    note=version.note,
                )
        return model

    def _dataset(self, user: User, name: str, frame, target: str) -> Dataset:
        content = sample_models.dataframe_to_csv_bytes(frame)
        upload = SimpleUploadedFile(f"{name}.csv", content, content_type="text/csv")
        # The CSV bytes are deterministic, so an earlier run's dataset is found by its hash.
        existing = Dataset.objects.filter(
            sha256=hashlib.sha256(content).hexdigest(), name=name, uploaded_by=user
        ).first()
        return existing or services.dataset_create(user=user, name=name, upload=upload, target=target)

    # --- output ---------------------------------------------------------------------------
    def _print_summary(self, users: dict[str, User], models: list[MLModel]) -> None:
        write = self.stdout.write
        write(self.style.SUCCESS("Demo data is ready."))
        write("")
        write("Models:")
        for model in models:
            numbers = ", ".join(f"v{n}" for n in model.versions.order_by("number").values_list("number", flat=True))
            write(f"  {model.name} ({model.get_risk_tier_display().lower()} risk): {numbers or 'no versions'}")
        write("")
        write("Sign in at /accounts/login/ with one of these demo logins:")
        write(f"  {'username':<10}{'role':<18}password")
        for spec in DEMO_USERS:
            user = users[spec.username]
            password = DEMO_PASSWORD if user.check_password(DEMO_PASSWORD) else "(changed since seeding)"
            write(f"  {spec.username:<10}{GlobalRole(spec.role).label.lower():<18}{password}")
