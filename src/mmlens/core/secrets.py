"""Credentials: recognising key-shaped values and masking them out of text, URLs and commands.

A key must never reach the store, results.json, samples.jsonl, a report, a log or an error message.
Keys are read from environment variables (the openai backend's ``api_key_env`` names one); what can
still carry one is a URL (``https://user:KEY@host/v1``, ``...?api_key=KEY``), a server's error text
that repeats it, or a key typed where a variable's name goes. ``mask`` replaces every credential it
recognises by ``***`` (a URL's whole userinfo, the value of a credential query parameter or
``name=value`` pair, a bearer token, and tokens shaped like the keys of the common providers), plus
any ``known`` secret values given verbatim. Mask first, then shorten: a text cut through a key no
longer contains the whole key, so replacing the key afterwards would leave its prefix.
"""

from __future__ import annotations

import base64
import re
import shlex
import urllib.parse
from collections.abc import Iterable, Sequence

MASK = "***"

# Tokens shaped like the keys of common providers: the prefix stays (it tells which key it was).
# The random part must hold a digit, so that names such as ``hf_internal_testing`` are left alone.
_DIGIT_AHEAD = r"(?=[A-Za-z0-9_-]*[0-9])"
KEY_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"(?P<sk>sk-(?:proj-|svcacct-|admin-|ant-(?:api[0-9]+-|admin[0-9]+-)?)?)"
    + _DIGIT_AHEAD
    + r"(?P<sk_body>[A-Za-z0-9_-]{12,})"  # OpenAI, Anthropic
    r"|(?P<other>hf_|gsk_|xai-|pplx-|nvapi-|r8_|ghp_|gho_|ghu_|ghs_|github_pat_|glpat-|AIza)"
    r"(?=[A-Za-z0-9]*[0-9])(?P<other_body>[A-Za-z0-9]{20,})"  # HF, Groq, xAI, GitHub, Google, ...
    r")"
)
JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
BEARER = re.compile(
    r"(?i)\b(?P<scheme>bearer|basic)(?P<space>\s+)(?=[A-Za-z0-9._~+/=-]*[0-9])(?P<secret>[A-Za-z0-9._~+/=-]{8,})"
)
URL_USERINFO = re.compile(r"(?i)(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/?#@\s'\"]+)@")
# Names whose value is a credential: as name=value anywhere, and in a URL's query (there ``key=``
# too, Google's ``?key=AIza...``); as ``name: value`` (a header, JSON) only the unambiguous ones.
CREDENTIAL_NAMES = (
    r"api[_-]?key|apikey|x-api-key|access[_-]?token|auth[_-]?token|id[_-]?token|refresh[_-]?token"
    r"|token|secret|client[_-]?secret|password|passwd|pwd|auth|sig|signature"
)
COLON_NAMES = r"api[_-]?key|apikey|x-api-key|access[_-]?token|client[_-]?secret|password"
_VALUE = r"(?P<secret>(?!\*\*\*)[^\s&#,;'\"]+)"
CREDENTIAL_PAIR = re.compile(
    r"(?i)(?<![A-Za-z0-9_-])(?:(?P<name>" + CREDENTIAL_NAMES + r")(?P<sep>\s*=\s*)"
    r"|(?P<cname>" + COLON_NAMES + r")(?P<csep>\"?\s*:\s*\"?))" + _VALUE
)
QUERY_CREDENTIAL = re.compile(r"(?i)(?P<lead>[?&;](?:" + CREDENTIAL_NAMES + r"|key)=)" + _VALUE)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Known secrets shorter than this are not replaced verbatim (they would mask ordinary words).
MIN_KNOWN_LENGTH = 6


def mask(text: str, known: Iterable[str | None] = ()) -> str:
    """``text`` with every credential in it replaced by ``***`` (see the module docstring)."""
    for secret in sorted({s for s in known if s and len(s) >= MIN_KNOWN_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, MASK)
        for form in {urllib.parse.quote(secret, safe=""), urllib.parse.unquote(secret)} - {secret}:
            if len(form) >= MIN_KNOWN_LENGTH:
                text = text.replace(form, MASK)
    text = URL_USERINFO.sub(lambda m: m["scheme"] + MASK + "@", text)
    text = QUERY_CREDENTIAL.sub(lambda m: m["lead"] + MASK, text)
    text = BEARER.sub(lambda m: m["scheme"] + m["space"] + MASK, text)
    text = KEY_TOKEN.sub(lambda m: (m["sk"] or m["other"]) + MASK, text)
    text = JWT.sub(MASK, text)
    return CREDENTIAL_PAIR.sub(_masked_pair, text)


def _masked_pair(match: re.Match[str]) -> str:
    if match["name"] is not None:
        return match["name"] + match["sep"] + MASK
    return match["cname"] + match["csep"] + MASK


def mask_then_cut(text: str, limit: int, known: Iterable[str | None] = ()) -> str:
    """Masked, then shortened to ``limit`` characters (with ``...``): never the other way round."""
    masked = mask(text, known)
    return masked if len(masked) <= limit else masked[:limit] + "..."


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries: its userinfo (user and password) and credential query values."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return []
    found = [parts.username or "", parts.password or ""]
    if parts.username or parts.password:  # as sent in a Basic Authorization header
        userinfo = urllib.parse.unquote(f"{parts.username or ''}:{parts.password or ''}")
        found.append(base64.b64encode(userinfo.encode("utf-8")).decode("ascii"))
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=False):
        if QUERY_CREDENTIAL.match(f"?{name}=x"):
            found.append(value)
    return [value for value in found if value]


def mask_url(url: str) -> str:
    """The URL without its credentials: ``https://***@host/v1?api_key=***`` (the rest as it was)."""
    return mask(url, url_secrets(url))


def mask_command(argv: Sequence[str]) -> str:
    """A command line (shell-quoted) fit to record: every credential in its arguments masked."""
    return shlex.join(mask(argument) for argument in argv)


def looks_like_key(value: str) -> bool:
    """Whether ``value`` as a whole is shaped like a credential: a provider's key (``sk-...``,
    ``hf_...``, ...), a JWT or a bearer token. (Not merely long and random: a commit hash is neither.)"""
    value = value.strip()
    return bool(value) and any(p.fullmatch(value) for p in (KEY_TOKEN, JWT, BEARER))


def _random_looking(value: str) -> bool:
    """24+ letters and digits, both present, no separators: a token, not anyone's variable name."""
    if re.fullmatch(r"[A-Za-z0-9]{24,}", value) is None:
        return False
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def is_env_var_name(value: str) -> bool:
    """Whether ``value`` can be an environment variable's name, and is not a key that happens to be one."""
    return ENV_NAME.fullmatch(value) is not None and not looks_like_key(value) and not _random_looking(value)
