"""Shirube settings: every value comes from the environment (see README.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int, env_list, env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SHIRUBE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
_secret = env_str("SECRET_KEY", "" if not DEBUG else "insecure-development-key-do-not-use")
if not _secret:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
SECRET_KEY = _secret
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_TZ = True
LANGUAGE_CODE = "en"
USE_I18N = False

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "reversion",
    "apps.accounts",
    "apps.lessons",
    "apps.clusters",
    "apps.audit",
    "apps.readiness",
    "apps.environments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "apps.accounts.context_processors.roles",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

DATABASES = {
    "default": parse_database_url(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'shirube.sqlite3'}"), base_dir=BASE_DIR
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "shirube",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Celery. The broker is Redis: `make run` starts a local one (scripts/run_demo.py), docker-compose
# and production name theirs. kombu's filesystem transport, the old no-server default, stopped
# the demo's worker on a half-written message file (kombu#1551): it is refused, not offered.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
if CELERY_BROKER_URL.startswith("filesystem:"):
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL=filesystem:// is not supported: with several processes a worker stops "
        "on a half-written message file (kombu#1551). Use redis://HOST:PORT/DB."
    )
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "lessons-rerender-stale": {
        "task": "apps.lessons.tasks.lessons_rerender_stale",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
}

# Demo data (known passwords) only where SHIRUBE_DEMO is on (`make run` sets it), whatever DEBUG
# says, and never on a shared database: the demo users' passwords are in the README.
SHIRUBE_DEMO = env_bool("SHIRUBE_DEMO", False)
if SHIRUBE_DEMO and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    raise ImproperlyConfigured("SHIRUBE_DEMO is for the local SQLite demo only: unset it or use sqlite:///.")
DEMO_PASSWORD = "shirube-demo"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"client_errors_one_line": {"()": "portal.logs.ClientErrorsOneLine"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_errors_one_line"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Django's default config gives "django" a console handler of its own (with DEBUG) that
        # printed every record, traceback and all, a second time beside the root's.
        "django": {"handlers": [], "level": "INFO"},
    },
}

# Lessons
SHIRUBE_CONTENT_DIR = Path(env_str("SHIRUBE_CONTENT_DIR", str(BASE_DIR / "content")))

# Clusters
SHIRUBE_SYNC_INTERVAL = env_int("SHIRUBE_SYNC_INTERVAL", 15, minimum=5)
SHIRUBE_SYNC_PAGE_SIZE = env_int("SHIRUBE_SYNC_PAGE_SIZE", 500, minimum=10)
SHIRUBE_SYNC_REQUEST_TIMEOUT = env_int("SHIRUBE_SYNC_REQUEST_TIMEOUT", 30, minimum=1)
SHIRUBE_SYNC_SOFT_TIME_LIMIT = env_int("SHIRUBE_SYNC_SOFT_TIME_LIMIT", 240, minimum=10)
# The lock outlives the task's hard time limit, so a killed worker never lets two syncs overlap.
SHIRUBE_SYNC_LOCK_TTL = env_int("SHIRUBE_SYNC_LOCK_TTL", SHIRUBE_SYNC_SOFT_TIME_LIMIT + 120, minimum=15)
SHIRUBE_SYNC_RETENTION_DAYS = env_int("SHIRUBE_SYNC_RETENTION_DAYS", 14, minimum=1)
SHIRUBE_TEAM_LABEL = env_str("SHIRUBE_TEAM_LABEL", "team")
# Where the in-cluster connection finds the pod's service-account token and the cluster CA.
SHIRUBE_INCLUSTER_TOKEN_FILE = env_str(
    "SHIRUBE_INCLUSTER_TOKEN_FILE", "/var/run/secrets/kubernetes.io/serviceaccount/token"
)
SHIRUBE_INCLUSTER_CA_FILE = env_str(
    "SHIRUBE_INCLUSTER_CA_FILE", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)
SHIRUBE_TEAM_PAGES_MEMBERS_ONLY = env_bool("SHIRUBE_TEAM_PAGES_MEMBERS_ONLY", False)
# Flux actions on production clusters are for leads and SREs unless this is on.
SHIRUBE_PRODUCTION_ACTIONS_FOR_MEMBERS = env_bool("SHIRUBE_PRODUCTION_ACTIONS_FOR_MEMBERS", False)
# How long a reconcile waits for Flux to acknowledge it (status.lastHandledReconcileAt).
SHIRUBE_RECONCILE_TIMEOUT = env_int("SHIRUBE_RECONCILE_TIMEOUT", 120, minimum=5)
SHIRUBE_MANY_RESTARTS = env_int("SHIRUBE_MANY_RESTARTS", 5, minimum=1)
SHIRUBE_ENV_VALUE_ALLOWLIST = frozenset(
    env_list("SHIRUBE_ENV_VALUE_ALLOWLIST", "AWS_STS_REGIONAL_ENDPOINTS,AWS_REGION,AWS_DEFAULT_REGION")
)
SHIRUBE_ANNOTATION_ALLOWLIST = tuple(
    env_list(
        "SHIRUBE_ANNOTATION_ALLOWLIST",
        "ad.datadoghq.com/,prometheus.io/,shirube.io/,eks.amazonaws.com/role-arn,"
        "eks.amazonaws.com/sts-regional-endpoints,deployment.kubernetes.io/revision,"
        "reconcile.fluxcd.io/requestedAt",
    )
)
CELERY_BEAT_SCHEDULE["clusters-sync-all"] = {
    "task": "apps.clusters.tasks.clusters_sync_all",
    "schedule": float(SHIRUBE_SYNC_INTERVAL),
    "options": {"expires": SHIRUBE_SYNC_INTERVAL},
}
CELERY_BEAT_SCHEDULE["clusters-prune"] = {
    "task": "apps.clusters.tasks.clusters_prune",
    "schedule": 6 * 3600.0,
    "options": {"expires": 3600},
}

# -- Production readiness (apps.readiness) -------------------------------------

# A grace period must exceed the preStop wait by this many seconds (the app's own shutdown).
SHIRUBE_READINESS_GRACE_MARGIN = env_int("SHIRUBE_READINESS_GRACE_MARGIN", 5, minimum=0)
# A workload whose pods restarted more than this many times in 24 hours fails the restarts rule.
SHIRUBE_READINESS_RESTARTS_24H = env_int("SHIRUBE_READINESS_RESTARTS_24H", 5, minimum=0)
# Each team's score is snapshotted (today's row rewritten) this often; the trend keeps one per day.
SHIRUBE_READINESS_SNAPSHOT_INTERVAL = env_int("SHIRUBE_READINESS_SNAPSHOT_INTERVAL", 3600, minimum=60)
CELERY_BEAT_SCHEDULE["readiness-snapshot"] = {
    "task": "apps.readiness.tasks.readiness_snapshot",
    "schedule": float(SHIRUBE_READINESS_SNAPSHOT_INTERVAL),
    "options": {"expires": SHIRUBE_READINESS_SNAPSHOT_INTERVAL},
}

# -- Environments and deployments (apps.environments) ---------------------------
# Git credentials are files mounted on the server (a deploy key with its known_hosts, or
# an HTTPS token); settings name the paths, the database never holds them.
SHIRUBE_GIT_SSH_KEY_FILE = env_str("SHIRUBE_GIT_SSH_KEY_FILE", "")
SHIRUBE_GIT_KNOWN_HOSTS_FILE = env_str("SHIRUBE_GIT_KNOWN_HOSTS_FILE", "")
SHIRUBE_GIT_TOKEN_FILE = env_str("SHIRUBE_GIT_TOKEN_FILE", "")
SHIRUBE_GIT_TOKEN_USERNAME = env_str("SHIRUBE_GIT_TOKEN_USERNAME", "x-access-token")
# Local clones of the GitOps repositories, one per repository and branch.
SHIRUBE_GITOPS_WORKDIR = Path(env_str("SHIRUBE_GITOPS_WORKDIR", str(VAR_DIR / "gitops")))
SHIRUBE_GIT_TIMEOUT = env_int("SHIRUBE_GIT_TIMEOUT", 60, minimum=5)
SHIRUBE_GIT_PUSH_ATTEMPTS = env_int("SHIRUBE_GIT_PUSH_ATTEMPTS", 3, minimum=1)
SHIRUBE_APPROVAL_TTL_HOURS = env_int("SHIRUBE_APPROVAL_TTL_HOURS", 24, minimum=1)
# How long a deployment may stay in each step before it is marked failed.
SHIRUBE_DEPLOY_QUEUE_TIMEOUT = env_int("SHIRUBE_DEPLOY_QUEUE_TIMEOUT", 900, minimum=10)
SHIRUBE_DEPLOY_COMMIT_TIMEOUT = env_int("SHIRUBE_DEPLOY_COMMIT_TIMEOUT", 300, minimum=10)
SHIRUBE_DEPLOY_RECONCILE_TIMEOUT = env_int("SHIRUBE_DEPLOY_RECONCILE_TIMEOUT", 300, minimum=5)
SHIRUBE_DEPLOY_ROLLOUT_TIMEOUT = env_int("SHIRUBE_DEPLOY_ROLLOUT_TIMEOUT", 600, minimum=5)
SHIRUBE_DEPLOY_POLL_SECONDS = env_int("SHIRUBE_DEPLOY_POLL_SECONDS", 3, minimum=1)
SHIRUBE_GIT_REFRESH_INTERVAL = env_int("SHIRUBE_GIT_REFRESH_INTERVAL", 60, minimum=10)
CELERY_BEAT_SCHEDULE["environments-refresh"] = {
    "task": "apps.environments.tasks.environments_refresh_all",
    "schedule": float(SHIRUBE_GIT_REFRESH_INTERVAL),
    "options": {"expires": SHIRUBE_GIT_REFRESH_INTERVAL},
}
CELERY_BEAT_SCHEDULE["deployments-watchdog"] = {
    "task": "apps.environments.tasks.deployments_watchdog",
    "schedule": 60.0,
    "options": {"expires": 55},
}
