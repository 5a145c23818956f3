"""The OAuth2 side of the test servers, on 127.0.0.1: the one edge of the OAuth2 tests that is simulated.

:class:`OAuthServer` holds the tokens and serves them twice:

- to the **mail servers**, over HTTP: a token-introspection endpoint (RFC 7662, ``POST /introspect`` with
  the form field ``token``) that Dovecot's ``oauth2`` passdb asks, and :meth:`OAuthServer.user_of` for the
  SMTP server's XOAUTH2;
- to **outreach**, over HTTPS with a certificate made for the run (trust it with ``REQUESTS_CA_BUNDLE =
  server.ca_file``), as the providers' endpoints: Google's token endpoint (``/google/token``: the
  authorization-code and refresh-token grants) and a Microsoft authority (``/TENANT``: OpenID discovery,
  the device-code endpoint, the token endpoint with the device-code and refresh-token grants).

Tokens are issued by the endpoints (each refresh gives a new access token) or by :meth:`issue`; the tests
revoke them (:meth:`revoke`), expire them (:meth:`expire`) and count the grants (``grants``).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from servers import self_signed_certificate

__all__ = ["OAuthServer"]

TENANT = "test-tenant"


class OAuthServer:
    """Token state plus the introspection endpoint (HTTP) and the providers' endpoints (HTTPS)."""

    host = "127.0.0.1"

    def __init__(self, *, expires_in: int = 3600) -> None:
        self.expires_in = expires_in  # lifetime of the access tokens the endpoints issue
        self._lock = threading.Lock()
        self._access: dict[str, tuple[str, bool]] = {}  # access token -> (user, active)
        self._refresh: dict[str, tuple[str, bool]] = {}  # refresh token -> (user, active)
        self._codes: dict[str, str] = {}  # authorization code / device code -> user
        self._pending: dict[str, int] = {}  # device code -> polls still answered "authorization_pending"
        self._ids = itertools.count(1)
        self.grants: list[str] = []  # grant types served, in order
        self.introspections = 0
        self.root: Path | None = None
        self.ca_file: Path | None = None
        self._servers: list[ThreadingHTTPServer] = []

    # -- tokens ------------------------------------------------------------------------------------

    def _new(self, kind: str, user: str) -> str:
        return f"{kind}-{user}-{next(self._ids)}"

    def issue(self, user: str) -> str:
        """A new active access token for ``user``."""
        with self._lock:
            token = self._new("at", user)
            self._access[token] = (user, True)
            return token

    def issue_refresh(self, user: str) -> str:
        """A new refresh token for ``user`` (as a finished sign-in leaves in the keyring)."""
        with self._lock:
            token = self._new("rt", user)
            self._refresh[token] = (user, True)
            return token

    def code_for(self, user: str, *, pending: int = 0) -> str:
        """An authorization (or device) code that the token endpoint exchanges for ``user``'s tokens, after
        answering ``authorization_pending`` ``pending`` times."""
        with self._lock:
            code = self._new("code", user)
            self._codes[code] = user
            self._pending[code] = pending
            return code

    def expire(self, token: str) -> None:
        """The access token stops working, as when its hour is up."""
        with self._lock:
            user, _ = self._access[token]
            self._access[token] = (user, False)

    def revoke(self, user: str) -> None:
        """Every token of ``user`` stops working, refresh tokens included (a revoked sign-in)."""
        with self._lock:
            for table in (self._access, self._refresh):
                for token, (who, _) in list(table.items()):
                    if who == user:
                        table[token] = (who, False)

    def user_of(self, token: str) -> str | None:
        """The user of an active access token (the mail servers' check), else None."""
        with self._lock:
            self.introspections += 1
            user, active = self._access.get(token, ("", False))
            return user if active else None

    def active_tokens(self, user: str) -> list[str]:
        with self._lock:
            return [t for t, (who, active) in self._access.items() if who == user and active]

    # -- the endpoints -----------------------------------------------------------------------------

    def _token_response(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", "")
        with self._lock:
            self.grants.append(grant)
            if grant == "refresh_token":
                user, active = self._refresh.get(form.get("refresh_token", ""), ("", False))
                if not active:
                    return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            elif grant in ("authorization_code", "urn:ietf:params:oauth:grant-type:device_code"):
                code = form.get("code") or form.get("device_code") or ""
                if self._pending.get(code, 0) > 0:
                    self._pending[code] -= 1
                    return 400, {"error": "authorization_pending", "error_description": "waiting for the user"}
                user = self._codes.pop(code, "")
                if not user:
                    return 400, {"error": "invalid_grant", "error_description": "unknown code"}
            else:
                return 400, {"error": "unsupported_grant_type"}
            access, refresh = self._new("at", user), self._new("rt", user)
            self._access[access] = (user, True)
            self._refresh[refresh] = (user, True)
        info = base64.urlsafe_b64encode(json.dumps({"uid": user, "utid": TENANT}).encode()).decode().rstrip("=")
        return 200, {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
            "scope": form.get("scope", "https://mail.google.com/"),
            "client_info": info,
        }

    def _device_response(self, base: str) -> dict[str, Any]:
        code = self.code_for(self.device_user, pending=1)
        return {
            "device_code": code,
            "user_code": "TEST-CODE",
            "verification_uri": f"{base}/devicelogin",
            "expires_in": 900,
            "interval": 1,
            "message": f"To sign in, open {base}/devicelogin and enter the code TEST-CODE.",
        }

    device_user = "device-user"  # whom the next device-code sign-in is for (set it before `outreach login`)

    def _openid(self, base: str) -> dict[str, Any]:
        return {
            "issuer": f"{base}/{TENANT}/v2.0",
            "authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/{TENANT}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/devicecode",
            "response_types_supported": ["code"],
        }

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def introspection_url(self) -> str:
        return f"http://{self.host}:{self._servers[0].server_address[1]}/introspect"

    @property
    def https_base(self) -> str:
        return f"https://{self.host}:{self._servers[1].server_address[1]}"

    @property
    def google_token_url(self) -> str:
        return f"{self.https_base}/google/token"

    @property
    def google_auth_url(self) -> str:
        return f"{self.https_base}/google/auth"

    @property
    def microsoft_authority(self) -> str:
        return f"{self.https_base}/{TENANT}"

    def start(self) -> Self:
        self.root = Path(tempfile.mkdtemp(prefix="outreach-oauth-"))
        cert, key = self_signed_certificate(self.root, "provider", ip=self.host)
        self.ca_file = cert
        plain = ThreadingHTTPServer((self.host, 0), _handler(self, https=False))
        secure = ThreadingHTTPServer((self.host, 0), _handler(self, https=True))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        secure.socket = context.wrap_socket(secure.socket, server_side=True)
        self._servers = [plain, secure]
        for server in self._servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=f"oauth:{server.server_address[1]}", daemon=True).start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            with contextlib.suppress(Exception):
                server.shutdown()
                server.server_close()
        self._servers = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(state: OAuthServer, *, https: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            return {k: v[0] for k, v in parse_qs(raw).items()}

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = urlsplit(self.path).path
            if https and path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
                self._send(200, state._openid(state.https_base))
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path
            form = self._form()
            if not https and path == "/introspect":
                user = state.user_of(form.get("token", ""))
                self._send(200, {"active": True, "username": user} if user else {"active": False})
            elif https and path in ("/google/token", f"/{TENANT}/oauth2/v2.0/token"):
                self._send(*state._token_response(form))
            elif https and path == f"/{TENANT}/oauth2/v2.0/devicecode":
                self._send(200, state._device_response(state.https_base))
            else:
                self._send(404, {"error": "not_found"})

    return Handler
