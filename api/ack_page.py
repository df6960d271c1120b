"""The two small pages a contact sees behind an acknowledgement link: confirm, and thank you.

They carry no PHI (no names, no incident detail) and no script: the link may be opened by anyone
the message was forwarded to, and by mail scanners that must not acknowledge by looking.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from fastapi.responses import HTMLResponse

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1b1b1b}"
    "button{font-size:1.1rem;padding:.75rem 1.5rem;border:0;border-radius:.4rem;"
    "background:#0b5394;color:#fff;cursor:pointer}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

_HEADERS = (
    ("Cache-Control", "no-store", "never cached: the link is a credential"),
    ("Referrer-Policy", "no-referrer", "the link is not passed on to another site"),
    (
        "Content-Security-Policy",
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
        "no script, no framing; a form posts only back to this URL",
    ),
    ("X-Content-Type-Options", "nosniff", "the answer is only what its Content-Type says"),
)
PAGE_HEADERS = {name: value for name, value, _ in _HEADERS}
PAGE_HEADERS_DOCUMENTED: dict[str, Any] = {
    name: {"description": why, "required": True, "schema": {"type": "string", "example": value}}
    for name, value, why in _HEADERS
}


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{title}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


CONFIRMATION = _page(
    "CrisisDesk: confirm",
    "<h1>Confirm you received the CrisisDesk message</h1>"
    "<p>Press the button to let the care team know you got it.</p>"
    '<form method="post"><button type="submit">I got the message</button></form>',
)

ACKNOWLEDGED = _page(
    "CrisisDesk: acknowledged",
    "<h1>Thank you, acknowledged</h1><p>The care team knows you got the message.</p>",
)


def confirmation_page() -> HTMLResponse:
    """Asks the holder of the link to confirm; showing it records nothing."""
    return HTMLResponse(CONFIRMATION, headers=PAGE_HEADERS)


def acknowledged_page() -> HTMLResponse:
    return HTMLResponse(ACKNOWLEDGED, headers=PAGE_HEADERS)
