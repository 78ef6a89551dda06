"""Settings for the governance portal.

Everything comes from environment variables (listed in the README's "Configuration") with safe
defaults for a laptop: SQLite in the project folder, a local Redis, mail to the console.
``DJANGO_ENV=production`` switches on the strict values.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- Environment ---------------------------------------------------------------------------
DJANGO_ENV = os.environ.get("DJANGO_ENV", "development")
PRODUCTION = DJANGO_ENV == "production"
TESTING = DJANGO_ENV == "test"

DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION and not TESTING)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_ENV=production.")
    SECRET_KEY = "development-only-key-not-for-production-use-0123456789abcdefghijklmnop"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# --- Applications ----------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "guardian",
    "auditlog",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "governance.access",
    "governance.registry",
    "governance.audit",
    "governance.directory",
    "django_scim",
    "workflows.lifecycle",
    "workflows.testsuites",
    "workflows.notifications",
    "workflows.gateway",
    "workflows.reports",
    "governance.demo",
]

MIDDLEWARE = [
    # First: refuses an oversized body before anything reads it.
    "governance.registry.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "governance.access.middleware.ActiveUserMiddleware",
    "governance.access.middleware.IdleSessionMiddleware",
    "governance.access.middleware.MFARequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "governance.audit.context.CorrelationIdMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workflows.notifications.context_processors.unread_notifications",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
# Persistent connections: a web or worker thread keeps its connection for up to
# DATABASE_CONN_MAX_AGE seconds (60 by default; 0 closes it after every request, an empty value
# keeps it for ever) instead of opening one per request, which costs more than most answers on
# PostgreSQL. The health check tests a reused connection at the start of each request, so one the
# server dropped is replaced rather than failing the request. Celery's Django fixup closes
# connections around each task by the same rule.
_conn_max_age = os.environ.get("DATABASE_CONN_MAX_AGE", "60").strip()
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(_conn_max_age) if _conn_max_age else None,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a lock rather than failing at once when a worker and the web process both write.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    # Write-ahead log: readers and the one writer (web process, worker) no longer block each other,
    # and with synchronous=NORMAL a commit does not wait for the disk (a power cut may lose the
    # last commits, never corrupt the file). WAL needs every process on the same machine, which
    # SQLite needs here anyway (PostgreSQL for several machines); the mode stays in the file.
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    # A file, not shared in-memory SQLite, so that tests with several threads or a worker
    # process see one database and wait on its lock like the real thing.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}
# Two database users (PostgreSQL, docs/deploy.md): DATABASE_URL is the portal's own user, which
# owns nothing and may not change the append-only tables; DATABASE_MIGRATE_URL, when set, is the
# owner of the tables, used only by `manage.py migrate --database owner` (governance.db_router).
if os.environ.get("DATABASE_MIGRATE_URL"):
    DATABASES["owner"] = dj_database_url.parse(os.environ["DATABASE_MIGRATE_URL"])
DATABASE_ROUTERS = ["governance.db_router.OwnerMigrates"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "access.User"

# --- Authentication --------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Password hashing is deliberately slow; tests create many users and need none of that.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "registry:model_list"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# allauth: people are created by admins, not by signing up.
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "governance.access.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "governance.access.adapters.SocialAccountAdapter"
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
}
# Reverse proxies in front of the portal that append to X-Forwarded-For (0: none, so the header
# is ignored). allauth's rate limits then count each client, not the proxy, so people behind one
# proxy do not share a bucket; or name the header a trusted proxy sets to the client's address.
GOVERNANCE_TRUSTED_PROXIES = int(os.environ.get("GOVERNANCE_TRUSTED_PROXIES", "0"))
ALLAUTH_TRUSTED_PROXY_COUNT = GOVERNANCE_TRUSTED_PROXIES
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = os.environ.get("GOVERNANCE_TRUSTED_CLIENT_IP_HEADER") or None
# A browser session unused for this many minutes is signed out (IdleSessionMiddleware; 0: never).
GOVERNANCE_SESSION_IDLE_MINUTES = int(
    os.environ.get("GOVERNANCE_SESSION_IDLE_MINUTES", "30" if PRODUCTION else "480")
)
# API tokens made without an expiry stop working after this many days (0: they never expire).
GOVERNANCE_TOKEN_DEFAULT_DAYS = int(os.environ.get("GOVERNANCE_TOKEN_DEFAULT_DAYS", "90"))
# Refused authentications (wrong signing passwords and codes, wrong one-time codes at sign-in,
# lockouts, bad API tokens) recorded in the audit trail a minute, per source address and reason.
GOVERNANCE_AUTH_FAILURE_AUDIT_LIMIT = int(os.environ.get("GOVERNANCE_AUTH_FAILURE_AUDIT_LIMIT", "10"))
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Validators, operators and admins must enrol in MFA when this is on.
GOVERNANCE_MFA_REQUIRED = env_bool("GOVERNANCE_MFA_REQUIRED", default=PRODUCTION)
# Every sign-off asks for the one-time code when this is on; a signer without an authenticator
# is refused until they set one up. Off: the code is asked of signers who have MFA.
GOVERNANCE_SIGNING_REQUIRES_MFA = env_bool("GOVERNANCE_SIGNING_REQUIRES_MFA", default=PRODUCTION)

# An OpenID Connect provider, so a company signs people in with its own directory.
SOCIALACCOUNT_PROVIDERS = {}
if os.environ.get("OIDC_SERVER_URL"):
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [
            {
                "provider_id": os.environ.get("OIDC_PROVIDER_ID", "company"),
                "name": os.environ.get("OIDC_PROVIDER_NAME", "Company sign-in"),
                "client_id": os.environ["OIDC_CLIENT_ID"] if "OIDC_CLIENT_ID" in os.environ else "",
                "secret": os.environ.get("OIDC_CLIENT_SECRET", ""),
                "settings": {"server_url": os.environ["OIDC_SERVER_URL"]},
            }
        ]
    }
SOCIALACCOUNT_ONLY = False
# Directory sign-ins are matched to accounts by SocialAccountAdapter, on verified addresses only;
# allauth's own matching by e-mail stays off.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False

# The company directory provisions and deprovisions people over SCIM 2.0 at /scim/v2/
# (django-scim2, wired in governance.directory.scim). The identity provider authenticates with a
# SCIM token made by `manage.py create_scim_token` or in the admin; nothing else is accepted there.
SCIM_SERVICE_PROVIDER = {
    "USER_ADAPTER": "governance.directory.scim.ScimUser",
    "GROUP_MODEL": "governance.directory.models.DirectoryGroup",
    "GROUP_ADAPTER": "governance.directory.scim.ScimGroup",
    "USER_FILTER_PARSER": "governance.directory.scim_filters.PortalUserFilter",
    "GROUP_FILTER_PARSER": "governance.directory.scim_filters.DirectoryGroupFilter",
    "SERVICE_PROVIDER_CONFIG_MODEL": "governance.directory.scim.ServiceProviderConfig",
    "BASE_LOCATION_GETTER": "governance.directory.scim.base_location",
    "GET_EXTRA_MODEL_FILTER_KWARGS_GETTER": "governance.directory.scim.extra_filter_kwargs_getter",
    "AUTH_CHECK_MIDDLEWARE": "governance.directory.scim.ScimTokenAuthCheck",
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="scim"',
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "SCIM token",
            "description": "A bearer token made for the identity provider by an admin (manage.py create_scim_token).",
            "primary": True,
        }
    ],
    # Never tell the caller what went wrong inside (a SCIM refusal says why by itself).
    "EXPOSE_SCIM_EXCEPTIONS": False,
}

# django-guardian: no anonymous user; object permissions only for signed-in people.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

# --- Audit trail -----------------------------------------------------------------------------
# One correlation id per request or task, shared by auditlog's entries and the trail.
AUDITLOG_CID_GETTER = "governance.audit.context.correlation_id_get"
# Days the trail is kept; unset means forever. `manage.py audit_purge` refuses anything younger
# than this, and never less than GOVERNANCE_AUDIT_MIN_RETENTION_DAYS (about six months).
GOVERNANCE_AUDIT_RETENTION_DAYS = (
    int(os.environ["GOVERNANCE_AUDIT_RETENTION_DAYS"]) if os.environ.get("GOVERNANCE_AUDIT_RETENTION_DAYS") else None
)
GOVERNANCE_AUDIT_MIN_RETENTION_DAYS = 183
# Behind a reverse proxy that sets X-Forwarded-For, record the client address it gives.
GOVERNANCE_AUDIT_TRUST_FORWARDED_FOR = env_bool("GOVERNANCE_AUDIT_TRUST_FORWARDED_FOR")
# Signed checkpoints of the chain head, outside the database (governance.audit.checkpoints):
# the Ed25519 private key (base64 of its raw 32 bytes; `manage.py audit_checkpoint --generate-key`
# makes one) on the machines that write them (beat, purges), the public key alone on machines that
# only verify, and a directory the database cannot change (shared by the portal's machines).
GOVERNANCE_AUDIT_CHECKPOINT_KEY = os.environ.get("GOVERNANCE_AUDIT_CHECKPOINT_KEY", "")
GOVERNANCE_AUDIT_CHECKPOINT_PUBLIC_KEY = os.environ.get("GOVERNANCE_AUDIT_CHECKPOINT_PUBLIC_KEY", "")
GOVERNANCE_AUDIT_CHECKPOINT_DIR = Path(
    os.environ.get("GOVERNANCE_AUDIT_CHECKPOINT_DIR", BASE_DIR / ".run" / "audit-checkpoints")
)
GOVERNANCE_AUDIT_CHECKPOINT_SECONDS = float(os.environ.get("GOVERNANCE_AUDIT_CHECKPOINT_SECONDS", "3600"))
# Access events (reads) are queued in Redis and appended in batches by a drain task
# (governance/audit/access_queue.py): the list's key (the drain's guard and the set-aside
# entries use it as prefix), the events appended per transaction, how long after the first read
# of a burst the drain runs, beat's backstop drain, and how long a read waits for Redis before
# it appends its event directly. The queue's Redis is GOVERNANCE_AUDIT_ACCESS_REDIS_URL below.
GOVERNANCE_AUDIT_ACCESS_QUEUE_KEY = os.environ.get("GOVERNANCE_AUDIT_ACCESS_QUEUE_KEY", "governance:audit:access-events")
GOVERNANCE_AUDIT_ACCESS_BATCH_SIZE = int(os.environ.get("GOVERNANCE_AUDIT_ACCESS_BATCH_SIZE", "500"))
GOVERNANCE_AUDIT_ACCESS_DRAIN_SECONDS = float(os.environ.get("GOVERNANCE_AUDIT_ACCESS_DRAIN_SECONDS", "1"))
GOVERNANCE_AUDIT_ACCESS_BACKSTOP_SECONDS = float(os.environ.get("GOVERNANCE_AUDIT_ACCESS_BACKSTOP_SECONDS", "30"))
GOVERNANCE_AUDIT_ACCESS_REDIS_TIMEOUT = float(os.environ.get("GOVERNANCE_AUDIT_ACCESS_REDIS_TIMEOUT", "1"))

# --- Internationalisation --------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media files ------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "/media/"  # never served directly: downloads go through permission-checked views

# Upload limits: artifacts and datasets larger than these are refused with 413.
GOVERNANCE_MAX_ARTIFACT_BYTES = int(os.environ.get("GOVERNANCE_MAX_ARTIFACT_BYTES", 200 * 1024 * 1024))
GOVERNANCE_MAX_DATASET_BYTES = int(os.environ.get("GOVERNANCE_MAX_DATASET_BYTES", 500 * 1024 * 1024))
# The largest tensor an ONNX artifact may declare or build from its constants, in elements
# (default 2**24, 64 MiB of float32); larger ones are refused at upload with a 400.
GOVERNANCE_MAX_ONNX_TENSOR_ELEMENTS = int(os.environ.get("GOVERNANCE_MAX_ONNX_TENSOR_ELEMENTS", 1 << 24))
# A request body past this is refused with 413 before it is read (unset: the larger of the two
# upload limits plus 1 MiB for the other fields).
GOVERNANCE_MAX_REQUEST_BYTES = int(os.environ.get("GOVERNANCE_MAX_REQUEST_BYTES") or 0) or None
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Redis, cache and Celery -----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# The Redis that queues access events (REDIS_URL unless set): durable and non-evicting, as the
# broker's, since a queued event lost there is lost from the trail.
GOVERNANCE_AUDIT_ACCESS_REDIS_URL = os.environ.get("GOVERNANCE_AUDIT_ACCESS_REDIS_URL") or REDIS_URL

if TESTING or env_bool("GOVERNANCE_LOCAL_CACHE"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "governance",
        }
    }

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task whose worker died is handed back after this many seconds: more than the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "300")),
    # Look for such tasks every 30 s (kombu's default is 10 s x a throttle of 10).
    "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", "30")),
    "unacked_restore_throttle": 1,
}
CELERY_TASK_ALWAYS_EAGER = False
# A task past its soft limit gets an exception it can record; past the hard limit its
# process is killed (prefork pool) and the run is recovered by the scheduled agent.
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "900"))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "960"))
CELERY_BEAT_SCHEDULE: dict = {
    # Re-enqueue runs the broker never got (Redis was down) and recover runs whose worker died.
    "recover-stuck-jobs": {"task": "testsuites.recover_stuck_jobs", "schedule": 60.0},
    # Flag champions whose periodic review is due and tell their owners (once per due date).
    "flag-reviews-due": {"task": "notifications.flag_reviews_due", "schedule": 3600.0},
    # Record conditions open past their due date in their history and the trail (once each).
    "flag-overdue-conditions": {"task": "lifecycle.flag_overdue_conditions", "schedule": 3600.0},
    # Remind reviewers of versions waiting past their tier's service level; tell admins later.
    "review-alerts": {"task": "notifications.review_alerts", "schedule": 900.0},
    # Sign the audit chain head into GOVERNANCE_AUDIT_CHECKPOINT_DIR (skipped without a key).
    "audit-checkpoint": {"task": "audit.checkpoint", "schedule": GOVERNANCE_AUDIT_CHECKPOINT_SECONDS},
    # Append queued access events even if no read scheduled a drain (a lost task message).
    "audit-access-drain": {"task": "audit.access_drain", "schedule": GOVERNANCE_AUDIT_ACCESS_BACKSTOP_SECONDS},
    # PSI of each champion's recent production inputs and scores against its training data.
    "gateway-drift-check": {"task": "gateway.drift_check", "schedule": 3600.0},
}

# --- Test suites, warm-up and scheduled agents (workflows.testsuites) -------------------------
# A running job refreshes its heartbeat this often; one silent for STALE seconds has lost its worker.
GOVERNANCE_JOB_HEARTBEAT_SECONDS = float(os.environ.get("GOVERNANCE_JOB_HEARTBEAT_SECONDS", "15"))
GOVERNANCE_JOB_STALE_SECONDS = float(os.environ.get("GOVERNANCE_JOB_STALE_SECONDS", "120"))
# Deliveries a job may have before it is marked errored.
GOVERNANCE_JOB_MAX_ATTEMPTS = int(os.environ.get("GOVERNANCE_JOB_MAX_ATTEMPTS", "2"))
# An enqueued job still queued after this long is enqueued again (its message may be lost).
GOVERNANCE_JOB_REQUEUE_SECONDS = float(os.environ.get("GOVERNANCE_JOB_REQUEUE_SECONDS", "600"))
GOVERNANCE_CHECK_TIME_LIMIT = float(os.environ.get("GOVERNANCE_CHECK_TIME_LIMIT", "300"))
# Warm-up pass criteria per risk tier, and how many recent production rows it replays.
GOVERNANCE_WARMUP_POLICY = {
    "max_rows": int(os.environ.get("GOVERNANCE_WARMUP_MAX_ROWS", "10000")),
    # Single-row calls timed per model for the latency p50/p95 of the report, on rows spread
    # evenly over the warm-up inputs (the report states the count).
    "latency_sample_rows": int(os.environ.get("GOVERNANCE_WARMUP_LATENCY_ROWS", "30")),
    "tiers": {
        "low": {"max_error_rate": 0.01, "min_agreement": 0.85, "max_psi": 0.25, "max_p95_latency_ms": 100.0},
        "medium": {"max_error_rate": 0.0, "min_agreement": 0.90, "max_psi": 0.25, "max_p95_latency_ms": 50.0},
        "high": {"max_error_rate": 0.0, "min_agreement": 0.95, "max_psi": 0.20, "max_p95_latency_ms": 50.0},
        "critical": {"max_error_rate": 0.0, "min_agreement": 0.97, "max_psi": 0.10, "max_p95_latency_ms": 50.0},
    },
}
# Days between periodic reviews of a champion, per risk tier.
GOVERNANCE_REVIEW_INTERVAL_DAYS = {"low": 365, "medium": 365, "high": 180, "critical": 90}
# Test-only check kinds (a check that sleeps, to kill a worker in the middle of a run).
GOVERNANCE_TEST_HOOKS = TESTING
# Submitted models run only in Celery workers; unit tests call the checks directly.
GOVERNANCE_SCORING_OUTSIDE_WORKERS = TESTING or env_bool("GOVERNANCE_SCORING_OUTSIDE_WORKERS")

# --- Scoring gateway (workflows.gateway) ------------------------------------------------------
# Rows one predict request may carry; more are refused with 413.
GOVERNANCE_GATEWAY_MAX_BATCH_ROWS = int(os.environ.get("GOVERNANCE_GATEWAY_MAX_BATCH_ROWS", "1000"))
# Predict requests per API token (or signed-in person) per window, counted on the shared cache;
# past it 429 with Retry-After. 0 turns the limit off.
GOVERNANCE_GATEWAY_RATE_LIMIT = int(os.environ.get("GOVERNANCE_GATEWAY_RATE_LIMIT", "6000"))
GOVERNANCE_GATEWAY_RATE_WINDOW_SECONDS = int(os.environ.get("GOVERNANCE_GATEWAY_RATE_WINDOW_SECONDS", "60"))
# Answered requests whose shadow scoring may wait, per web process, while the broker is slow or
# down; past it, shadow scoring is dropped (and logged), never the answer.
GOVERNANCE_GATEWAY_SHADOW_BACKLOG = int(os.environ.get("GOVERNANCE_GATEWAY_SHADOW_BACKLOG", "10000"))
# Each web process sends its queued shadow work to the workers as one task at most this often
# (seconds), with at most this many rows of inputs per task: a worker then scores many answered
# requests per task instead of paying a task's overhead for each one.
GOVERNANCE_GATEWAY_SHADOW_BATCH_SECONDS = float(os.environ.get("GOVERNANCE_GATEWAY_SHADOW_BATCH_SECONDS", "0.5"))
GOVERNANCE_GATEWAY_SHADOW_BATCH_ROWS = int(os.environ.get("GOVERNANCE_GATEWAY_SHADOW_BATCH_ROWS", "5000"))
# The drift agent: the window of recent production it looks at, the rows it needs to judge and
# reads at most, and the PSI over which a model is flagged (admins set it per model).
GOVERNANCE_DRIFT_WINDOW_HOURS = float(os.environ.get("GOVERNANCE_DRIFT_WINDOW_HOURS", "24"))
GOVERNANCE_DRIFT_MIN_ROWS = int(os.environ.get("GOVERNANCE_DRIFT_MIN_ROWS", "100"))
GOVERNANCE_DRIFT_MAX_ROWS = int(os.environ.get("GOVERNANCE_DRIFT_MAX_ROWS", "10000"))
GOVERNANCE_DRIFT_PSI_THRESHOLD = float(os.environ.get("GOVERNANCE_DRIFT_PSI_THRESHOLD", "0.25"))
# The live comparison of champion and challengers reads at most this many answered requests of
# its window (the newest), with their shadow scorings, and says so when the window holds more.
GOVERNANCE_GATEWAY_COMPARISON_MAX_REQUESTS = int(os.environ.get("GOVERNANCE_GATEWAY_COMPARISON_MAX_REQUESTS", "5000"))
# A regression challenger "agrees" on a row within this share of the champion's prediction.
GOVERNANCE_GATEWAY_REGRESSION_TOLERANCE = float(os.environ.get("GOVERNANCE_GATEWAY_REGRESSION_TOLERANCE", "0.05"))
# Versions each web or worker process keeps loaded (least recently used ones are dropped).
GOVERNANCE_GATEWAY_LOADED_VERSIONS = int(os.environ.get("GOVERNANCE_GATEWAY_LOADED_VERSIONS", "16"))

# --- Mail ------------------------------------------------------------------------------------
if os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "governance@localhost")
# Seconds an SMTP connection may hang before the send fails (and is retried later).
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "20"))
# The address people open the portal at: links in emails start with it.
GOVERNANCE_BASE_URL = os.environ.get("GOVERNANCE_BASE_URL", "http://127.0.0.1:8000")
# In every email's subject.
GOVERNANCE_PORTAL_NAME = "Model governance portal"
# Emails (workflows.notifications.mail): the task retries a failed send after 30, 60, 120 s;
# then the recovery agent sends again every RESEND seconds, up to MAX_ATTEMPTS in all. A sender
# holds an email for LEASE seconds, so two deliveries of one task never both send it.
GOVERNANCE_EMAIL_RETRY_SECONDS = int(os.environ.get("GOVERNANCE_EMAIL_RETRY_SECONDS", "30"))
GOVERNANCE_EMAIL_RESEND_SECONDS = int(os.environ.get("GOVERNANCE_EMAIL_RESEND_SECONDS", "900"))
GOVERNANCE_EMAIL_MAX_ATTEMPTS = int(os.environ.get("GOVERNANCE_EMAIL_MAX_ATTEMPTS", "10"))
GOVERNANCE_EMAIL_LEASE_SECONDS = max(120, 3 * EMAIL_TIMEOUT)

# --- REST framework --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.access.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "governance.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "iso-8601",
}

# --- Production hardening --------------------------------------------------------------------
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
