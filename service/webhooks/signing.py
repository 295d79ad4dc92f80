"""HMAC-SHA256 signatures of webhook bodies, in the ``t=<unix time>,v1=<hex>`` style.

The receiver recomputes ``HMAC(secret, "<t>.<raw body>")`` and compares in constant time; the
timestamp in the signed string lets it reject replays older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Rtbf-Signature"


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(body: bytes, header: str, secret: str, *, tolerance_seconds: int = 300, now: int | None = None) -> bool:
    """True when ``header`` is a valid, fresh signature of ``body`` (for receivers and tests)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
        given = fields["v1"]
    except (ValueError, KeyError):
        return False
    current = int(time.time()) if now is None else now
    if abs(current - t) > tolerance_seconds:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)
