"""OAuth2 with the providers' own libraries: signing in once (``outreach login``) and refreshing access
tokens. Optional: ``pip install 'outreach[oauth]'`` brings them.

- Google (Gmail, Google Workspace): google-auth-oauthlib's installed-app flow (a browser, a redirect to a
  loopback address on this machine), then google-auth refreshes; scope ``https://mail.google.com/``.
- Microsoft 365: msal's device-code flow (a code to type at microsoft.com/devicelogin, on any device),
  then msal refreshes; scopes ``IMAP.AccessAsUser.All``, ``SMTP.Send`` (and ``offline_access``, which msal
  adds itself).

This module only talks to the providers; :mod:`outreach.auth` keeps the refresh token (in the keyring) and
hands access tokens to IMAP and SMTP. The endpoints can be changed in the mailbox's config
(``oauth2_token_url``, ``oauth2_auth_url``, ``oauth2_authority``: for another cloud, or a test).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from outreach.config import MailboxConfig, OAuth2Config
from outreach.errors import ConfigError, MailServerError, OutreachError, UsageError

if TYPE_CHECKING:
    import msal

GOOGLE_SCOPES = ("https://mail.google.com/",)
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/auth"
MICROSOFT_SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
)  # offline_access (a refresh token) is added by msal to every request
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com/{tenant}"
# The errors of a token endpoint (RFC 6749 5.2) that mean: sign in again.
SIGN_IN_AGAIN = frozenset({"invalid_grant", "interaction_required", "invalid_client", "unauthorized_client"})


@dataclass(frozen=True)
class TokenSet:
    """What a provider gave: an access token, when it expires (epoch seconds, None: unknown) and a refresh
    token (None: keep the one you have)."""

    access_token: str = field(repr=False)
    expires_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)


class TokenRefused(OutreachError):
    """The provider refused the refresh token (revoked, expired, another client's): sign in again."""


def _settings(mailbox: MailboxConfig) -> OAuth2Config:
    oauth = mailbox.oauth2
    if mailbox.auth != "oauth2" or oauth is None or oauth.provider is None or oauth.client_id is None:
        raise ConfigError(
            f'[mailboxes.{mailbox.name}]: signing in needs auth = "oauth2", oauth2_provider ("google" or '
            '"microsoft") and oauth2_client_id'
        )
    if oauth.provider == "google" and oauth.client_secret is None:
        raise ConfigError(f"[mailboxes.{mailbox.name}]: Google needs oauth2_client_secret (from the OAuth client)")
    return oauth


def _missing_library(exc: ImportError) -> UsageError:
    return UsageError(f"OAuth2 sign-in needs the oauth extra ({exc.name} is missing): pip install 'outreach[oauth]'")


def host_of(mailbox: MailboxConfig) -> str:
    """The provider's host, for error messages."""
    oauth = mailbox.oauth2 or OAuth2Config()
    if oauth.provider == "microsoft":
        url = oauth.authority or MICROSOFT_AUTHORITY.format(tenant=oauth.tenant)
    else:
        url = oauth.token_url or GOOGLE_TOKEN_URL
    return urlsplit(url).hostname or url


# ------------------------------------------------------------------------------------------ Google


def _google_config(oauth: OAuth2Config) -> dict[str, dict[str, object]]:
    return {
        "installed": {
            "client_id": oauth.client_id,
            "client_secret": oauth.client_secret,
            "auth_uri": oauth.auth_url or GOOGLE_AUTH_URL,
            "token_uri": oauth.token_url or GOOGLE_TOKEN_URL,
            "redirect_uris": ["http://localhost"],
        }
    }


def _google_sign_in(mailbox: MailboxConfig, oauth: OAuth2Config, say: Callable[[str], None], browser: bool) -> TokenSet:
    try:
        from google_auth_oauthlib.flow import InstalledAppFlow
    except ImportError as exc:
        raise _missing_library(exc) from None
    flow = InstalledAppFlow.from_client_config(_google_config(oauth), scopes=list(GOOGLE_SCOPES))
    say(f"Signing in {mailbox.username} (mailbox {mailbox.name}) with Google.")
    try:
        creds = flow.run_local_server(
            host="localhost",
            port=0,
            open_browser=browser,
            authorization_prompt_message="Open this address in a browser and allow access:\n{url}",
            success_message="outreach is signed in; you may close this window.",
            timeout_seconds=600,
            access_type="offline",
            prompt="consent",
            login_hint=mailbox.username,
        )
    except Exception as exc:  # oauthlib's and requests' errors: one line, whatever they are
        raise TokenRefused(f"{host_of(mailbox)}: Google sign-in failed: {exc}") from None
    return _google_tokens(mailbox, creds.token, creds.expiry, creds.refresh_token)


def _google_refresh(mailbox: MailboxConfig, oauth: OAuth2Config, refresh_token: str) -> TokenSet:
    try:
        from google.auth.exceptions import RefreshError, TransportError
        from google.auth.transport.requests import Request
        from google.oauth2.credentials import Credentials
    except ImportError as exc:
        raise _missing_library(exc) from None
    creds = Credentials(  # type: ignore[no-untyped-call]  # google-auth's constructor has no annotations
        None,
        refresh_token=refresh_token,
        token_uri=oauth.token_url or GOOGLE_TOKEN_URL,
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        scopes=list(GOOGLE_SCOPES),
    )
    try:
        creds.refresh(Request())  # type: ignore[no-untyped-call]  # nor has its refresh()
    except RefreshError as exc:
        raise TokenRefused(f"{host_of(mailbox)}: {_first_line(exc)}") from None
    except TransportError as exc:
        raise MailServerError(host_of(mailbox), f"cannot reach the token endpoint ({_first_line(exc)})") from None
    return _google_tokens(mailbox, creds.token, creds.expiry, creds.refresh_token)


def _google_tokens(mailbox: MailboxConfig, token: object, expiry: object, refresh_token: object) -> TokenSet:
    if not isinstance(token, str):
        raise TokenRefused(f"{host_of(mailbox)}: Google gave no access token")
    expires = expiry.replace(tzinfo=UTC).timestamp() if isinstance(expiry, datetime) else None
    return TokenSet(token, expires, refresh_token if isinstance(refresh_token, str) else None)


# ------------------------------------------------------------------------------------------ Microsoft


def _msal_app(oauth: OAuth2Config) -> msal.PublicClientApplication:
    try:
        import msal
    except ImportError as exc:
        raise _missing_library(exc) from None
    authority = oauth.authority or MICROSOFT_AUTHORITY.format(tenant=oauth.tenant)
    # instance discovery asks Microsoft whether the authority is one of its clouds: not for a configured one
    discover = oauth.authority is None
    return msal.PublicClientApplication(oauth.client_id, authority=authority, instance_discovery=discover)


def _msal_tokens(mailbox: MailboxConfig, result: dict[str, object]) -> TokenSet:
    token = result.get("access_token")
    if not isinstance(token, str):
        error = str(result.get("error") or "no access token")
        description = str(result.get("error_description") or "").splitlines()[0:1]
        text = f"{error}: {description[0]}" if description else error
        if error in SIGN_IN_AGAIN:
            raise TokenRefused(f"{host_of(mailbox)}: {text}")
        raise MailServerError(host_of(mailbox), f"no access token ({text})")
    expires_in = result.get("expires_in")
    expires = time.time() + float(expires_in) if isinstance(expires_in, int | float | str) else None
    refresh = result.get("refresh_token")
    return TokenSet(token, expires, refresh if isinstance(refresh, str) else None)


def _microsoft_sign_in(mailbox: MailboxConfig, oauth: OAuth2Config, say: Callable[[str], None]) -> TokenSet:
    app = _msal_app(oauth)
    try:
        flow = app.initiate_device_flow(scopes=list(MICROSOFT_SCOPES))
        if "user_code" not in flow:
            return _msal_tokens(mailbox, flow)  # the provider's error, as one line
        say(f"Signing in {mailbox.username} (mailbox {mailbox.name}) with Microsoft.")
        say(str(flow["message"]))
        result = app.acquire_token_by_device_flow(flow)
    except (OSError, ValueError) as exc:  # requests' connection errors are OSErrors
        raise MailServerError(host_of(mailbox), f"cannot reach Microsoft's sign-in ({_first_line(exc)})") from None
    return _msal_tokens(mailbox, result)


def _microsoft_refresh(mailbox: MailboxConfig, oauth: OAuth2Config, refresh_token: str) -> TokenSet:
    app = _msal_app(oauth)
    try:
        result = app.acquire_token_by_refresh_token(refresh_token, scopes=list(MICROSOFT_SCOPES))
    except (OSError, ValueError) as exc:
        raise MailServerError(host_of(mailbox), f"cannot reach the token endpoint ({_first_line(exc)})") from None
    return _msal_tokens(mailbox, result)


# ------------------------------------------------------------------------------------------ the two steps


def sign_in(mailbox: MailboxConfig, say: Callable[[str], None], browser: bool = True) -> TokenSet:
    """Run the provider's sign-in for ``mailbox`` (talking to the user through ``say``): its tokens."""
    oauth = _settings(mailbox)
    if oauth.provider == "google":
        tokens = _google_sign_in(mailbox, oauth, say, browser)
    else:
        tokens = _microsoft_sign_in(mailbox, oauth, say)
    if tokens.refresh_token is None:
        raise TokenRefused(f"{host_of(mailbox)}: the sign-in gave no refresh token (was offline access allowed?)")
    return tokens


def refresh(mailbox: MailboxConfig, refresh_token: str) -> TokenSet:
    """A new access token for ``mailbox`` from its refresh token (:class:`TokenRefused`: sign in again)."""
    oauth = _settings(mailbox)
    if oauth.provider == "google":
        return _google_refresh(mailbox, oauth, refresh_token)
    return _microsoft_refresh(mailbox, oauth, refresh_token)


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0] if exc.args and isinstance(exc.args[0], str) else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "GOOGLE_SCOPES",
    "MICROSOFT_SCOPES",
    "TokenRefused",
    "TokenSet",
    "host_of",
    "refresh",
    "sign_in",
]
