"""Credentials out of what the sync stores: commands, URLs, messages and Datadog annotations.

Team pages are readable by every employee, so anything the sync keeps from a
cluster is effectively public inside the company. Probe and preStop commands,
Flux source URLs and controller messages carry credentials often enough
(`mysqladmin -p<password>`, `Authorization: Bearer <token>`, a clone URL with
`user:token@`), so every such text goes through `redact` before it is stored:
the secret never reaches the database, so no page, export or backup can show it.
Redaction errs towards hiding: a port after `-p` or a harmless `key=` value is
hidden too, which costs a reader a detail, never a secret.
"""

from __future__ import annotations

import re
from functools import lru_cache

import orjson

MASK = "***"

# Words that make a flag, variable, header or parameter name a credential's name.
_SECRET_WORD = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|key|auth\w*|credentials?|session|cookie|signature)"
)
_NAME = rf"[\w.-]*{_SECRET_WORD}[\w.-]*"  # containing one: PGPASSWORD, SECRET_KEY_BASE, --token-file
_NAME_END = rf"[\w.-]*{_SECRET_WORD}"  # ending in one (for name: value, where image:tag is common)
_VALUE = r"""[^\s&"';,]+"""
_FRESH = r"(?!\*\*\*)"  # not a value an earlier rule has already masked


def _authorization(match: re.Match) -> str:
    scheme = f"{match[2]} " if match[2] else ""
    return f"{match[1]}{scheme}{MASK}"


# Each (pattern, replacement), applied in order. The first ones consume a secret and its
# name together, so the generic ones after them do not see the secret again.
_RULES: list[tuple[re.Pattern[str], object]] = [
    # URLs with user:password@ (clone URLs, DSNs): keep the user and the host. A text cut
    # short after the password (stored rows were cut at a length) counts too, unless the
    # part after the colon is a port.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@"), rf"\1:{MASK}@"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]*[^/\s@0-9][^/\s@]*$"), rf"\1:{MASK}"),
    # Authorization headers (quoted or not), and bearer or basic credentials on their own.
    (
        re.compile(r"(?i)\b(authorization\s*[:=]\s*)(?:(bearer|basic|digest|token|apikey)\s+)?[^\s\"']+"),
        _authorization,
    ),  # fmt: skip
    (re.compile(r"(?i)\b(bearer|basic)\s+(?=[\w.~+/=-]*[A-Z0-9+/=])[\w.~+/=-]{8,}"), rf"\1 {MASK}"),
    # Headers whose name says what they carry: X-Api-Key: ..., Private-Token: ...
    (
        re.compile(rf"(?i)\b({_NAME_END}\s*:\s+)(?!(?:bearer|basic|digest|token|apikey)\s){_FRESH}[^\s\"']+"),
        rf"\1{MASK}",
    ),  # fmt: skip
    # "password": "..." in JSON text.
    (re.compile(rf"""(?i)(["']{_NAME}["']\s*:\s*["'])[^"']*"""), rf"\1{MASK}"),
    # Flags with the value after a space: --password x, -pass x, --token x, --api-key x.
    (re.compile(rf"(?i)(?<![\w-])(--?{_NAME})\s+(?!-){_FRESH}[^\s\"']+"), rf"\1 {MASK}"),
    # NAME=value: PGPASSWORD=x, MYSQL_PWD=x, --password=x, ?access_token=x.
    (re.compile(rf"(?i)\b({_NAME})=\s*{_FRESH}{_VALUE}"), rf"\1={MASK}"),
    # name:value: pass:x (openssl), X-Token:x.
    (re.compile(rf"(?i)\b({_NAME_END}):(?=[^\s/]){_FRESH}[^\s\"']+"), rf"\1:{MASK}"),
    # curl -u user:password, --user user:password.
    (re.compile(r"(?<![\w-])(-u|--user)(\s+|=)([^\s:\"']+):[^\s\"']+"), rf"\1\2\3:{MASK}"),
    # redis-cli -a <password>.
    (re.compile(r"(?i)(\bredis-cli\b[^|;&]*?\s-a)\s+[^\s\"']+"), rf"\1 {MASK}"),
    # The MySQL-family -p<password> (attached); a separate -p is a prompt or a port.
    (re.compile(r"(?<![\w-])-p(?!ass(?:word)?\b)(?=\S)[^\s\"']+"), f"-p{MASK}"),
    # Token shapes worth recognising on their own.
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), MASK),  # AWS access key id
    (
        re.compile(  # an AWS secret access key: 40 base64 characters with upper, lower and digits
            r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+=]{0,39}[A-Z])(?=[A-Za-z0-9/+=]{0,39}[a-z])"
            r"(?=[A-Za-z0-9/+=]{0,39}[0-9])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
        ),
        MASK,
    ),  # fmt: skip
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"), MASK),  # GitHub tokens
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), MASK),  # Slack tokens
    (re.compile(r"\beyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]*"), MASK),  # JWTs
]
# One cheap search first: most texts (paths like /readyz, plain messages) have nothing to redact.
_MAYBE = re.compile(
    r"(?i)://|bearer|basic|authori|pass|pwd|secret|token|key|auth|cred|session|cookie|signature"
    r"|(?<![\w-])-[pua]|redis-cli|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|eyJ|gh[pousr]_|xox"
    r"|[A-Za-z0-9/+=]{40}"
)


def redact(text: str) -> str:
    """The text with anything that looks like a credential replaced by ***.

    Short texts are cached: thousands of pods share a handful of templates, so the
    same command comes back again and again (long ones would only fill the cache).
    """
    if len(text) <= 512:
        return _redact_cached(text)
    return _redact(text)


@lru_cache(maxsize=8192)
def _redact_cached(text: str) -> str:
    return _redact(text)


def _redact(text: str) -> str:
    if not text or not _MAYBE.search(text):
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


# --- Datadog Autodiscovery annotations ------------------------------------------------

DATADOG_PREFIX = "ad.datadoghq.com/"
_UNREADABLE = "(not valid JSON)"
_MAX_CHECKS = 50


def _has_openmetrics(instance: object) -> bool:
    return isinstance(instance, dict) and any(
        key in instance for key in ("openmetrics_endpoint", "prometheus_url")
    )


def _check_name(name: object) -> str:
    return str(name).replace("\x00", "")[:100]


def _summary(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def datadog_annotation(key: str, value: str) -> str | None:
    """What the portal keeps of one ad.datadoghq.com/ annotation, or None to drop it.

    Readiness checks need to know which checks a container declares and whether
    it has an OpenMetrics endpoint, nothing more; the instances themselves hold
    hosts, user names and passwords. So `<container>.checks` keeps each check's
    name, its number of instances and whether one has an OpenMetrics endpoint,
    `.check_names` its names, `.instances` whether each has an endpoint, and
    every other Datadog annotation (init_configs, logs, tags) is dropped.
    """
    suffix = key.rpartition(".")[2] if "." in key.removeprefix(DATADOG_PREFIX) else ""
    if suffix not in ("checks", "check_names", "instances"):
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return _UNREADABLE  # still says "a check is declared here", as the agent's users meant
    if suffix == "checks":
        if not isinstance(parsed, dict):
            return _UNREADABLE
        checks = {}
        for name, check in list(parsed.items())[:_MAX_CHECKS]:
            instances = check.get("instances") if isinstance(check, dict) else None
            instances = instances if isinstance(instances, list) else []
            checks[_check_name(name)] = {
                "instances": len(instances),
                "openmetrics_endpoint": any(_has_openmetrics(i) for i in instances),
            }
        return _summary(checks)
    if not isinstance(parsed, list):
        return _UNREADABLE
    if suffix == "check_names":
        return _summary([_check_name(name) for name in parsed[:_MAX_CHECKS]])
    return _summary([{"openmetrics_endpoint": _has_openmetrics(i)} for i in parsed[:_MAX_CHECKS]])
