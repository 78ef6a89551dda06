"""``python manage.py seed_demo``: demo people, models, datasets and versions.

A newcomer should land in a living portal: one user per role (their logins are printed), and
models trained on data sets that ship with scikit-learn, registered through the same services
the pages and the API use. Running it again changes nothing and prints the logins again.

Some versions are submitted (as the data scientist, through ``version_transition``), so the
Celery worker runs their test suites and warm-ups for real; the others stay in draft. With
``--settle`` the command then waits (bounded) for the worker to bring them to review, signs
off with the demo validators and promotes one version to champion with the demo operator, all
through the lifecycle services. It also writes sample files (training and validation CSV and
a matching ONNX model) that a newcomer can upload in the browser.

The validator ``val`` is enrolled in two-factor authentication (TOTP, with the published secret
of ``governance.demo.totp``), so the one-time code at sign-in and at signing can be seen; the
command prints how to get the codes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from governance.access.models import User
from governance.access.roles import GlobalRole, ObjectRole
from governance.access.services import grant_give
from governance.errors import ActionError
from governance.demo import sample_models
from governance.demo.totp import DEMO_TOTP_USERNAME, totp_code_now, totp_enroll, totp_secret, totp_uri
from governance.registry import services
from governance.registry.models import (
    Dataset,
    MLModel,
    ModelVersion,
    RiskTier,
    Task,
    VersionState,
)
from workflows.lifecycle.models import SignOff
from workflows.lifecycle.services import signoff_record, version_transition

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


# How far the demo takes a version: left in draft (the submit button), submitted and left in
# review (the review queue), or signed off and promoted to champion (``--settle``).
DRAFT, REVIEW, CHAMPION = "draft", "review", "champion"
# The states a submitted version passes through while the worker has it.
IN_PIPELINE = {VersionState.TESTING, VersionState.WARMING_UP}
DEMO_VALIDATORS = ("val", "vera")
DEFAULT_SETTLE_TIMEOUT = 120.0


@dataclass
class DemoVersion:
    fmt: str
    note: str
    code_commit: str
    goal: str = DRAFT


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
    # Whether a validator confirms the owner's tier (else it stays a proposal, shown as such).
    confirm_tier: bool = True


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
            DemoVersion("onnx", "Baseline: standardised logistic regression on all 30 measurements, exported to ONNX.", "a41c7e2", CHAMPION),
            DemoVersion("skops", "The same pipeline saved with skops for the scikit-learn scoring path.", "b93d015", DRAFT),
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
        versions=[DemoVersion("onnx", "Ridge regression on the ten baseline variables.", "5e0f9aa", REVIEW)],
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
        confirm_tier=False,
    ),
]


class Command(BaseCommand):
    help = (
        "Create demo users (one per role), models, datasets and versions, submit some versions to "
        "their test suites, and write sample files to upload. Safe to run twice. With --settle, wait "
        "for a Celery worker to bring the submitted versions to review, then sign off and promote one."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DJANGO_ENV=production (the demo accounts share a published password).",
        )
        parser.add_argument(
            "--settle",
            action="store_true",
            help="After seeding, wait for the Celery worker to test and warm up the submitted versions, "
            "then sign off with the demo validators and promote one version to champion.",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_SETTLE_TIMEOUT,
            help=f"How long --settle waits for the worker, in seconds (default {DEFAULT_SETTLE_TIMEOUT:g}).",
        )
        parser.add_argument(
            "--files-dir",
            default=str(Path(settings.BASE_DIR) / "demo-files"),
            help="Where to write the sample files to upload (default: demo-files/ in the project).",
        )

    def handle(self, *args, allow_production: bool = False, settle: bool = False, timeout: float = DEFAULT_SETTLE_TIMEOUT,
               files_dir: str = "", **options):
        if settings.PRODUCTION and not allow_production:
            raise CommandError(
                "Refusing to create demo accounts with a published password in production. "
                "Pass --allow-production if this really is a demo installation."
            )
        users = {spec.username: self._user(spec) for spec in DEMO_USERS}
        totp_enroll(users[DEMO_TOTP_USERNAME])
        made = []
        for spec in DEMO_MODELS:
            made.append(self._model(spec, users))
        self._submit(made, users)
        files = self._write_files(Path(files_dir or Path(settings.BASE_DIR) / "demo-files"))
        if settle:
            self._settle(made, users, timeout)
        self._print_summary(users, made, files)

    # --- the lifecycle, through its services ----------------------------------------------
    @staticmethod
    def _versions_with_goals(spec: DemoModel, model: MLModel) -> list[tuple[ModelVersion, str]]:
        """The model's demo versions with how far the demo takes each, fresh from the database.

        The n-th version by number is the spec's n-th: seeding adds them in order.
        """
        return list(zip(model.versions.order_by("number"), (v.goal for v in spec.versions)))

    def _targets(self, models: list[MLModel], goal: str | None = None) -> list[tuple[ModelVersion, str]]:
        """The versions the demo moves past draft (only those going to ``goal``, if given)."""
        return [
            (version, version_goal)
            for spec, model in zip(DEMO_MODELS, models)
            for version, version_goal in self._versions_with_goals(spec, model)
            if version_goal != DRAFT and goal in (None, version_goal)
        ]

    def _submit(self, models: list[MLModel], users: dict[str, User]) -> None:
        """Submit the versions meant to go further, as the data scientist would from the page.

        The committed submit queues each version's test run and hands it to the broker, where it
        waits until a worker starts. Only a draft is submitted, so a second run (or a version
        someone withdrew meanwhile) changes nothing.
        """
        for version, _goal in self._targets(models):
            if version.state == VersionState.DRAFT:
                version_transition(version=version, name="submit", actor=users["dana"])

    def _settle(self, models: list[MLModel], users: dict[str, User], timeout: float) -> None:
        """Wait for the worker, then sign off and promote through the services, as people would."""
        self._wait_for_worker(models, timeout)
        for version, _goal in self._targets(models, CHAMPION):
            self._to_champion(version, users)

    def _wait_for_worker(self, models: list[MLModel], timeout: float) -> None:
        """Poll until no submitted version is still being tested or warmed up, for ``timeout`` s."""
        deadline = time.monotonic() + timeout
        self.stdout.write(f"Waiting up to {timeout:g} s for the Celery worker to test and warm up the submitted versions...")
        while True:
            targets = self._targets(models)
            failed = [v for v, _ in targets if v.state in (VersionState.TESTS_FAILED, VersionState.WARMUP_FAILED)]
            if failed:
                raise CommandError(
                    "The worker failed "
                    + ", ".join(f"{v.model.name} v{v.number} ({v.get_state_display().lower()})" for v in failed)
                    + ": open the version page to see which check failed."
                )
            busy = [v for v, _ in targets if v.state in IN_PIPELINE]
            if not busy:
                return
            if time.monotonic() >= deadline:
                raise CommandError(
                    f"Gave up after {timeout:g} s: "
                    + ", ".join(f"{v.model.name} v{v.number} is still {v.get_state_display().lower()}" for v in busy)
                    + ". Is a Celery worker running? Start one with `celery -A governance worker -l info` "
                    "(./scripts/start does) and run `python manage.py seed_demo --settle` again."
                )
            time.sleep(0.5)

    def _to_champion(self, version: ModelVersion, users: dict[str, User]) -> None:
        otto = users["otto"]
        for username in DEMO_VALIDATORS:
            version.refresh_from_db()
            if version.state != VersionState.IN_REVIEW:
                break
            signer = users[username]
            if SignOff.objects.filter(version=version, signer=signer).exists():
                continue
            try:
                signoff_record(
                    version=version,
                    signer=signer,
                    decision="approve",
                    annotation=(
                        "Demo review: read the test-suite results and the warm-up scores; "
                        "the metrics meet the thresholds for this risk tier."
                    ),
                    password=DEMO_PASSWORD,
                    otp=self._current_code(signer),
                )
            except ActionError as exc:
                raise CommandError(
                    f"{username} could not sign {version.model.name} v{version.number}: {exc} "
                    "(sign it in the browser instead)."
                ) from exc
        steps = [
            (VersionState.APPROVED, "promote_to_challenger", "Demo: shadow-score the approved version next to production."),
            (VersionState.CHALLENGER, "promote_to_champion", "Demo: the challenger's shadow scores look right; make it the champion."),
        ]
        for state, name, annotation in steps:
            version.refresh_from_db()
            if version.state == state:
                version_transition(version=version, name=name, actor=otto, annotation=annotation)
        version.refresh_from_db()
        if version.state != VersionState.CHAMPION:
            self.stderr.write(
                f"{version.model.name} v{version.number} is {version.get_state_display().lower()}, not champion: "
                "someone moved it by hand, so the demo leaves it there."
            )

    @staticmethod
    def _current_code(user: User) -> str:
        """The one-time code of a demo signer enrolled in TOTP (empty for the others)."""
        secret = totp_secret(user)
        return totp_code_now(secret) if secret else ""

    # --- files to upload ------------------------------------------------------------------
    def _write_files(self, directory: Path) -> list[Path]:
        """A training CSV, a validation CSV and an ONNX model trained on the first, for uploads.

        The bytes are deterministic; a file already holding them is not rewritten.
        """
        train, valid, target = sample_models.breast_cancer_frames()
        estimator = sample_models.train_classifier(train, target)
        contents = {
            "breast-cancer-training.csv": sample_models.dataframe_to_csv_bytes(train),
            "breast-cancer-validation.csv": sample_models.dataframe_to_csv_bytes(valid),
            "breast-cancer-classifier.onnx": sample_models.to_onnx_bytes(estimator),
        }
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, content in contents.items():
            path = directory / name
            if not path.exists() or path.read_bytes() != content:
                path.write_bytes(content)
            paths.append(path)
        return paths

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
        # grant_give is idempotent: an existing grant is found, not duplicated. Reviewers and
        # operators are chosen by the admin, not by the owner.
        adam = users["adam"]
        for username in ("val", "vera"):
            grant_give(actor=adam, model=model, user=users[username], role=ObjectRole.REVIEWER)
        grant_give(actor=adam, model=model, user=users["otto"], role=ObjectRole.OPERATOR)
        if spec.confirm_tier and model.risk_tier_proposed:
            model = services.model_risk_tier_confirm(
                model=model, actor=users["val"], risk_tier=spec.risk_tier,
                reason="Confirmed at the model-risk intake review of its use and exposure.",
            )

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
    def _print_summary(self, users: dict[str, User], models: list[MLModel], files: list[Path]) -> None:
        write = self.stdout.write
        write(self.style.SUCCESS("Demo data is ready."))
        write("")
        write("Models:")
        for model in models:
            numbers = ", ".join(
                f"v{number} ({VersionState(state).label.lower()})"
                for number, state in model.versions.order_by("number").values_list("number", "state")
            )
            tier = f"{model.get_risk_tier_display().lower()} risk{', proposed: counts as high until a validator confirms it' if model.risk_tier_proposed else ''}"
            write(f"  {model.name} ({tier}): {numbers or 'no versions'}")
        write("")
        write("Files to upload in the browser (a training set, a validation set and a model trained on the first):")
        for path in files:
            write(f"  {path}")
        write("")
        write("Sign in at /accounts/login/ with one of these demo logins:")
        write(f"  {'username':<10}{'role':<18}password")
        for spec in DEMO_USERS:
            user = users[spec.username]
            password = DEMO_PASSWORD if user.check_password(DEMO_PASSWORD) else "(changed since seeding)"
            write(f"  {spec.username:<10}{GlobalRole(spec.role).label.lower():<18}{password}")
        self._print_totp(users[DEMO_TOTP_USERNAME])

    def _print_totp(self, user: User) -> None:
        """How to get the one-time codes of the validator enrolled in two-factor authentication."""
        write = self.stdout.write
        secret = totp_secret(user)
        if secret is None:
            return
        write("")
        write(f"{user.username} signs in and signs off with a one-time code (two-factor authentication). Get the codes")
        write("from an authenticator app set up with this secret (or this otpauth URI, e.g. as a QR code):")
        write(f"  secret: {secret}")
        write(f"  {totp_uri(user, secret)}")
        write(f"or print the current code with: python manage.py totp_code {user.username}")
