"""Find things in deploy files that look like real secrets.

Placeholders are allowed, and only in recognisable shapes: ``CHANGE_ME``, values that say ``dev-only``,
references to variables (``${VAR}``, ``$(VAR)``), and base64 strings that decode to text saying
``dev-only`` (the compose file's dev encryption key). Anything else in a secret-shaped slot is reported.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from dataclasses import dataclass

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}: keep the default, it is what would be used.
_COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")
_KUBERNETES_VARIABLE = re.compile(r"\$\((\w+)\)")
_SECRET_ASSIGNMENT = re.compile(
    r"""(?ix) (?P<key>[\w.-]*(?:password|passwd|secret|token|salt|api_key|encryption_key|private_key)[\w.-]*)
        ["']? \s* [:=] \s* ["']? (?P<value>[^\s"'#,}]*)"""
)
_URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://(?P<user>[^:/@\s]*):(?P<password>[^@\s]+)@", re.IGNORECASE)
_KNOWN_TOKEN_SHAPES = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
}
_RANDOM_LOOKING = re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PLACEHOLDER = re.compile(r"(?i)^(|true|false|change_?me.*|.*dev-only.*|<[^>]+>|\$\w+|\{\{.*\}\})$")


@dataclass(frozen=True)
class Finding:
    line: int
    reason: str


def scan(text: str) -> list[Finding]:
    """Every line of ``text`` that holds something secret-looking that is not a recognised placeholder."""
    findings = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _resolve_variables(raw)
        for name, shape in _KNOWN_TOKEN_SHAPES.items():
            if shape.search(line):
                findings.append(Finding(number, name))
        for match in _URL_CREDENTIALS.finditer(line):
            if not is_placeholder(match["password"]):
                findings.append(Finding(number, "password in a URL"))
        for match in _SECRET_ASSIGNMENT.finditer(line):
            if not is_placeholder(match["value"]) and not match["value"].endswith(":"):
                findings.append(Finding(number, f"value of {match['key']}"))
        for token in _RANDOM_LOOKING.findall(_DIGEST.sub("", line)):  # image digests are public, not secrets
            if _looks_random(token) and not is_placeholder(token):
                findings.append(Finding(number, "high-entropy string"))
    return findings


def is_placeholder(value: str) -> bool:
    """True for values that cannot be a real secret: CHANGE_ME, dev-only markers, variable references."""
    if _PLACEHOLDER.match(value) or _KUBERNETES_VARIABLE.fullmatch(value):
        return True
    decoded = _decoded_base64(value)
    return decoded is not None and "dev-only" in decoded


def _resolve_variables(line: str) -> str:
    return _COMPOSE_VARIABLE.sub(lambda m: m.group(2) if m.group(2) is not None else "", line)


def _decoded_base64(value: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return raw.decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _looks_random(token: str) -> bool:
    """Mixed letters and digits with a Shannon entropy per character above what identifiers reach.

    Random base64 or hex of 32 bytes practically always mixes digits and letters at 4.5-6 bits per character;
    names (``NVIDIA_DRIVER_CAPABILITIES``), image references and paths do not.
    """
    has_digit, has_letter = any(c.isdigit() for c in token), any(c.isalpha() for c in token)
    if not (has_digit and has_letter) or "/" in token.strip("/="):
        return False
    counts = Counter(token)
    entropy = -sum(c / len(token) * math.log2(c / len(token)) for c in counts.values())
    is_hex = re.fullmatch(r"[0-9a-fA-F]+", token) is not None  # at most 4 bits per character by construction
    return entropy > (3.0 if is_hex else 4.0)
