"""Shirube settings: every value comes from the environment (see README.md)."""

from __future__ import annotations

from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_group_map, env_int, env_list, env_str, env_url, parse_database_url

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
# English and Japanese (issue 21): the reader's account choice, then Accept-Language
# (apps.accounts.middleware). The catalogue is locale/ja/LC_MESSAGES/django.po, compiled to the
# committed django.mo by scripts/compile_messages.py (babel: GNU gettext is not installed).
USE_I18N = True
LANGUAGES = [("en", "English"), ("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Date formats for every page and the admin (apps/core/timefmt.py); one folder per language.
FORMAT_MODULE_PATH = ["portal.formats"]

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
    "ninja",  # the API docs page's assets (vendored in the package: no CDN)
    "apps.accounts",
    "apps.lessons",
    "apps.clusters",
    "apps.audit",
    "apps.readiness",
    "apps.environments",
    "apps.notifications",
    "apps.chatops",
    "apps.digests",
    "apps.api",
    "apps.home",
    "apps.insights",
    "apps.demo",  # demo seeding only (refused unless DEBUG and SQLite)
]

MIDDLEWARE = [
    # Outermost, so that every answer is counted, refusals included (apps.core.metrics).
    "apps.core.metrics.request_metrics",
    "django.middleware.security.SecurityMiddleware",
    # Outside the others, so that their refusals (a bad host, a 400) carry the policy too.
    "portal.middleware.content_security_policy",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: the account's language choice comes first.
    "apps.accounts.middleware.ReaderLocaleMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.reject_control_characters",
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
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.accounts.context_processors.roles",
            ],
            "builtins": ["template_partials.templatetags.partials", "apps.core.templatetags.times"],
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

# Passwords only where local sign-in is allowed (apps.accounts.signin); the company's identity
# provider through OpenID Connect when configured (apps.accounts.oidc).
AUTHENTICATION_BACKENDS = ["apps.accounts.signin.PasswordBackend", "apps.accounts.oidc.OIDCBackend"]
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
# A session ends this long after sign-in, however active (apps.accounts.signin.session_limit): it
# bounds how long someone removed from a group at the identity provider keeps its rights.
SHIRUBE_SESSION_HOURS = env_int("SHIRUBE_SESSION_HOURS", 8, minimum=1, maximum=24)
SESSION_COOKIE_AGE = SHIRUBE_SESSION_HOURS * 3600
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Redirect plain HTTP to HTTPS; on by default behind a TLS proxy. The probes stay on HTTP: the
# kubelet calls them on the pod's own port.
SECURE_SSL_REDIRECT = env_bool("SSL_REDIRECT", BEHIND_TLS_PROXY)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# HSTS is sent on HTTPS responses only (Django's SecurityMiddleware), so it is harmless over HTTP.
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", True)

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
# /metrics (Prometheus) answers only on this port, never on the one behind the ingress: gunicorn
# binds it as a second address (the Helm chart), `make run` uses the web port. 0: nowhere.
SHIRUBE_METRICS_PORT = env_int("SHIRUBE_METRICS_PORT", 0, minimum=0, maximum=65535)

# Watch sessions hold a task for minutes: they always run on their own queue, served by a worker
# whose pool holds one session per cluster (threads; README "Workers"), routing on or off.
CELERY_TASK_ROUTES = {"apps.clusters.tasks.cluster_watch": {"queue": "watch"}}
# Queues per kind of work, so that each can get its own workers (the Helm chart's `workers`; a
# backlog of deployments must not wait behind syncs). Off, every other task stays on the default
# queue, which a worker started without -Q consumes (`make run`, docker-compose). Glob patterns,
# so that the notification apps' tasks land on their queue when they arrive.
SHIRUBE_TASK_QUEUES = ("celery", "sync", "deployments", "notifications", "watch")
SHIRUBE_TASK_ROUTING = env_bool("SHIRUBE_TASK_ROUTING", False)
if SHIRUBE_TASK_ROUTING:
    CELERY_TASK_ROUTES |= {
        "apps.clusters.tasks.cluster_sync": {"queue": "sync"},
        "apps.clusters.tasks.clusters_sync_all": {"queue": "sync"},
        "apps.readiness.tasks.*": {"queue": "sync"},
        "apps.clusters.tasks.flux_action*": {"queue": "deployments"},
        "apps.environments.tasks.*": {"queue": "deployments"},
        "apps.notifications.tasks.*": {"queue": "notifications"},
    }
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
# List, then watch (apps.clusters.watch): changes reach the database within a second. "poll" lists
# every kind every SHIRUBE_SYNC_INTERVAL instead, for clusters whose API may not be watched (a
# cluster can say so itself in the admin).
SHIRUBE_SYNC_MODE = env_str("SHIRUBE_SYNC_MODE", "watch")
if SHIRUBE_SYNC_MODE not in ("watch", "poll"):
    raise ImproperlyConfigured(f"SHIRUBE_SYNC_MODE={SHIRUBE_SYNC_MODE!r}: use watch or poll.")
# The safety net under the watch: a full list-and-diff of every kind this often.
SHIRUBE_RESYNC_INTERVAL = env_int("SHIRUBE_RESYNC_INTERVAL", 600, minimum=60)
# A watch session ends after this long and queues the next, which resumes from the stored
# resourceVersions (deploys and worker restarts lose nothing).
SHIRUBE_WATCH_SESSION_SECONDS = env_int("SHIRUBE_WATCH_SESSION_SECONDS", 300, minimum=30, maximum=3600)
# A session's lock lives this long without a heartbeat (it beats every third of it); then beat
# starts another session, which takes the lock over.
SHIRUBE_WATCH_LOCK_TTL = env_int("SHIRUBE_WATCH_LOCK_TTL", 30, minimum=3, maximum=600)
# Events for one object within this window become one write; each kind's writes are batched.
SHIRUBE_WATCH_COALESCE_MS = env_int("SHIRUBE_WATCH_COALESCE_MS", 250, minimum=0, maximum=250)
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
# How long a reconcile waits for Flux to acknowledge it (status.lastHandledReconcileAt), looking
# again every few seconds from a re-queued task (apps.clusters.flux_runner), never in a sleep.
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
# Flux events pushed in (apps.clusters.flux_events): a folder with one key file per cluster, named
# after it (the token of the Provider's Secret); empty: the endpoint is off. An event only asks for
# its object to be read again, at most this often per object.
SHIRUBE_FLUX_EVENTS_KEY_DIR = env_str("SHIRUBE_FLUX_EVENTS_KEY_DIR", "")
SHIRUBE_FLUX_EVENT_REFRESH_SECONDS = env_int("SHIRUBE_FLUX_EVENT_REFRESH_SECONDS", 10, minimum=1)
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
# Flux actions wait for Flux one step per task run; this re-queues a chain lost with the broker.
CELERY_BEAT_SCHEDULE["flux-actions-watchdog"] = {
    "task": "apps.clusters.tasks.flux_actions_watchdog",
    "schedule": 60.0,
    "options": {"expires": 55},
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
# Repositories as local paths or file:// reach anything on the worker's disk: the demo and tests only.
SHIRUBE_GIT_ALLOW_LOCAL = env_bool("SHIRUBE_GIT_ALLOW_LOCAL", False)
# Local clones of the GitOps repositories, one per repository and branch.
SHIRUBE_GITOPS_WORKDIR = Path(env_str("SHIRUBE_GITOPS_WORKDIR", str(VAR_DIR / "gitops")))
SHIRUBE_GIT_TIMEOUT = env_int("SHIRUBE_GIT_TIMEOUT", 60, minimum=5)
SHIRUBE_GIT_PUSH_ATTEMPTS = env_int("SHIRUBE_GIT_PUSH_ATTEMPTS", 3, minimum=1)
# At most 30 days (apps.environments.models.APPROVAL_TTL_MAX_HOURS): an approval is for one tag now.
SHIRUBE_APPROVAL_TTL_HOURS = env_int("SHIRUBE_APPROVAL_TTL_HOURS", 24, minimum=1, maximum=24 * 30)
# Days a lesson newly published into a phase an environment requires waits before that gate counts
# it (an environment can set its own): publishing must not take Promote and Roll back away at once.
SHIRUBE_REQUIREMENT_GRACE_DAYS = env_int("SHIRUBE_REQUIREMENT_GRACE_DAYS", 14, minimum=0, maximum=365)
# How long a deployment may stay in each step before it is marked failed.
SHIRUBE_DEPLOY_QUEUE_TIMEOUT = env_int("SHIRUBE_DEPLOY_QUEUE_TIMEOUT", 900, minimum=10)
# A committing worker beats every few seconds while git runs; this long without a beat, it is dead.
SHIRUBE_DEPLOY_COMMIT_TIMEOUT = env_int("SHIRUBE_DEPLOY_COMMIT_TIMEOUT", 30, minimum=10)
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

# -- Sign-in: OpenID Connect and local passwords (apps.accounts) --------------------------
# OpenID Connect is on when an issuer is set: everything else is read from its discovery
# document (<issuer>/.well-known/openid-configuration), fetched and cached.
SHIRUBE_OIDC_ISSUER = env_url("SHIRUBE_OIDC_ISSUER")
OIDC_RP_CLIENT_ID = env_str("SHIRUBE_OIDC_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_str("SHIRUBE_OIDC_CLIENT_SECRET", "")
if SHIRUBE_OIDC_ISSUER and not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
    raise ImproperlyConfigured(
        "SHIRUBE_OIDC_ISSUER is set: SHIRUBE_OIDC_CLIENT_ID and SHIRUBE_OIDC_CLIENT_SECRET must be too."
    )
OIDC_RP_SCOPES = env_str("SHIRUBE_OIDC_SCOPES", "openid email profile")
if SHIRUBE_OIDC_ISSUER and "openid" not in OIDC_RP_SCOPES.split():
    raise ImproperlyConfigured(f"SHIRUBE_OIDC_SCOPES={OIDC_RP_SCOPES!r} must include openid.")
# The ID token's claims read at each sign-in. An empty groups claim turns group mapping off
# (Google Workspace sends no groups): memberships are then set by hand in the admin.
SHIRUBE_OIDC_GROUPS_CLAIM = env_str("SHIRUBE_OIDC_GROUPS_CLAIM", "groups")
SHIRUBE_OIDC_USERNAME_CLAIM = env_str("SHIRUBE_OIDC_USERNAME_CLAIM", "preferred_username")
SHIRUBE_OIDC_EMAIL_CLAIM = env_str("SHIRUBE_OIDC_EMAIL_CLAIM", "email")
SHIRUBE_OIDC_PROVIDER_NAME = env_str("SHIRUBE_OIDC_PROVIDER_NAME", "your company account")
# Group mappings used while the admin has none (a first install): group=team:member;...
SHIRUBE_OIDC_GROUP_MAP = env_group_map("SHIRUBE_OIDC_GROUP_MAP")
SHIRUBE_OIDC_TIMEOUT = env_int("SHIRUBE_OIDC_TIMEOUT", 10, minimum=1, maximum=60)
SHIRUBE_OIDC_CACHE_SECONDS = env_int("SHIRUBE_OIDC_CACHE_SECONDS", 3600, minimum=0)
# mozilla-django-oidc's own settings: PKCE (S256), a nonce and a state per sign-in, and the
# ID token kept in the session for the provider's logout (id_token_hint).
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = True
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:oidc_callback"
OIDC_TIMEOUT = SHIRUBE_OIDC_TIMEOUT

# Password sign-in: on unless OpenID Connect is configured; the break-glass users may use it
# even when it is off (an administrator for when the provider is down).
SHIRUBE_LOCAL_LOGIN = env_bool("SHIRUBE_LOCAL_LOGIN", not SHIRUBE_OIDC_ISSUER)
SHIRUBE_BREAK_GLASS_USERS = frozenset(env_list("SHIRUBE_BREAK_GLASS_USERS", ""))
# Failed password sign-ins: per user name, per address, and how long a lock lasts.
SHIRUBE_LOGIN_FAILURES_PER_USER = env_int("SHIRUBE_LOGIN_FAILURES_PER_USER", 10, minimum=1)
SHIRUBE_LOGIN_FAILURES_PER_ADDRESS = env_int("SHIRUBE_LOGIN_FAILURES_PER_ADDRESS", 50, minimum=1)
SHIRUBE_LOGIN_FAILURE_WINDOW = env_int("SHIRUBE_LOGIN_FAILURE_WINDOW", 900, minimum=1)
SHIRUBE_LOGIN_LOCKOUT = env_int("SHIRUBE_LOGIN_LOCKOUT", 900, minimum=1, maximum=86_400)
# Proxies in front that append to X-Forwarded-For; 0 reads the client from the connection.
SHIRUBE_PROXY_COUNT = env_int("SHIRUBE_PROXY_COUNT", 0, minimum=0, maximum=5)
CELERY_BEAT_SCHEDULE["accounts-limits-prune"] = {
    "task": "apps.accounts.tasks.limits_prune",
    "schedule": 3600.0,
    "options": {"expires": 3000},
}

# -- Notifications: the outbox, Slack and e-mail (apps.notifications), ChatOps (apps.chatops) ----
# Links in messages leave the site: they are made absolute with this.
SHIRUBE_SITE_URL = env_url("SHIRUBE_SITE_URL", "http://127.0.0.1:8000")
# Slack is off without a bot token. Token and signing secret are secrets: use the _FILE forms.
SHIRUBE_SLACK_BOT_TOKEN = env_str("SHIRUBE_SLACK_BOT_TOKEN", "")
SHIRUBE_SLACK_SIGNING_SECRET = env_str("SHIRUBE_SLACK_SIGNING_SECRET", "")
SHIRUBE_SLACK_API_URL = env_url("SHIRUBE_SLACK_API_URL", "https://slack.com/api/")
# Where Slack's response_url may point: the worker posts answers there, and must not be sent elsewhere.
SHIRUBE_SLACK_RESPONSE_URL_PREFIX = env_url("SHIRUBE_SLACK_RESPONSE_URL_PREFIX", "https://hooks.slack.com/")
SHIRUBE_SLACK_TIMEOUT = env_int("SHIRUBE_SLACK_TIMEOUT", 10, minimum=1, maximum=30)
SHIRUBE_SLACK_SRE_CHANNEL = env_str("SHIRUBE_SLACK_SRE_CHANNEL", "")
SHIRUBE_SLACK_LINK_BY_EMAIL = env_bool("SHIRUBE_SLACK_LINK_BY_EMAIL", True)
# E-mail: smtp (Django's SMTP backend), console (printed by the worker: `make run`), or off.
EMAIL_HOST = env_str("EMAIL_HOST", "")
SHIRUBE_EMAIL_BACKEND = env_str("SHIRUBE_EMAIL_BACKEND", "smtp" if EMAIL_HOST else "off")
_EMAIL_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "off": "django.core.mail.backends.dummy.EmailBackend",
}
if SHIRUBE_EMAIL_BACKEND not in _EMAIL_BACKENDS:
    raise ImproperlyConfigured(f"SHIRUBE_EMAIL_BACKEND={SHIRUBE_EMAIL_BACKEND!r}: use smtp, console or off.")
if SHIRUBE_EMAIL_BACKEND == "smtp" and not EMAIL_HOST:
    raise ImproperlyConfigured("SHIRUBE_EMAIL_BACKEND=smtp needs EMAIL_HOST.")
EMAIL_BACKEND = _EMAIL_BACKENDS[SHIRUBE_EMAIL_BACKEND]
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS (STARTTLS) or EMAIL_USE_SSL (implicit TLS), not both.")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1, maximum=60)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Shirube <shirube@localhost>")
SHIRUBE_NOTIFY_RETENTION_DAYS = env_int("SHIRUBE_NOTIFY_RETENTION_DAYS", 30, minimum=1)
# The daily digests (readiness findings, stuck readers) go out at this hour (TIME_ZONE).
# Outbound webhooks may call loopback (and plain http there): for the tests only.
SHIRUBE_WEBHOOK_ALLOW_LOOPBACK = env_bool("SHIRUBE_WEBHOOK_ALLOW_LOOPBACK", False)
# The HTTP API (apps.api): token lifetimes and per-token rate limits (requests a minute).
SHIRUBE_API_TOKEN_DAYS = env_int("SHIRUBE_API_TOKEN_DAYS", 90, minimum=1, maximum=3650)
SHIRUBE_API_TOKEN_MAX_DAYS = env_int("SHIRUBE_API_TOKEN_MAX_DAYS", 366, minimum=1, maximum=3650)
SHIRUBE_API_READ_LIMIT = env_int("SHIRUBE_API_READ_LIMIT", 600, minimum=1, maximum=100_000)
SHIRUBE_API_WRITE_LIMIT = env_int("SHIRUBE_API_WRITE_LIMIT", 60, minimum=1, maximum=100_000)
SHIRUBE_DIGEST_HOUR = env_int("SHIRUBE_DIGEST_HOUR", 9, minimum=0, maximum=23)
CELERY_BEAT_SCHEDULE["notifications-recover"] = {
    "task": "apps.notifications.tasks.deliveries_recover",
    "schedule": 15.0,
    "options": {"expires": 14},
}
CELERY_BEAT_SCHEDULE["notifications-prune"] = {
    "task": "apps.notifications.tasks.deliveries_prune",
    "schedule": 6 * 3600.0,
    "options": {"expires": 3600},
}
CELERY_BEAT_SCHEDULE["digests-daily"] = {
    "task": "apps.digests.tasks.digests_send",
    "schedule": crontab(hour=SHIRUBE_DIGEST_HOUR, minute=0),
    "options": {"expires": 3600},
}
CELERY_BEAT_SCHEDULE["chatops-requests-prune"] = {
    "task": "apps.chatops.tasks.slack_requests_prune",
    "schedule": 600.0,
    "options": {"expires": 550},
}
CELERY_BEAT_SCHEDULE["api-idempotency-prune"] = {
    "task": "apps.api.tasks.idempotency_prune",
    "schedule": 3600.0,
    "options": {"expires": 3000},
}
CELERY_BEAT_SCHEDULE["notifications-state-changes"] = {
    "task": "apps.notifications.tasks.state_changes_flush",
    "schedule": 60.0,
    "options": {"expires": 55},
}
