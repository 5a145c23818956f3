"""The SMTP transport: the only code that talks SMTP.

One connection (reopened as needed) delivers one message to one recipient at a time. What the server
answers becomes an exception that says what the sender may do: :class:`TemporaryFailure` (4xx: retry
later), :class:`PermanentFailure` (5xx: do not retry), :class:`SenderRefused` (nothing can be sent in this
run), :class:`NotDelivered` (the connection failed before the message was handed over: safe to retry),
:class:`Unconfirmed` (it failed while the message was being handed over: it may have been accepted).
TLS certificates are always verified, host name included.
"""

from __future__ import annotations

import contextlib
import ipaddress
import smtplib
import socket
import ssl
from typing import Protocol

from outreach.auth import OAuth2Login, Secret, sasl_mechanism
from outreach.errors import AuthenticationError, MailServerError, network_error
from outreach.send.settings import SmtpSettings


class TemporaryFailure(Exception):
    """The server answered 4xx: not delivered, may work later."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text = code, text


class PermanentFailure(Exception):
    """The server answered 5xx to this message or recipient: not delivered, do not retry."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text = code, text


class SenderRefused(Exception):
    """The server refused us (MAIL FROM 5xx, AUTH): nothing can be sent in this run."""


class NotDelivered(Exception):
    """The connection failed before the message was handed over (before the end of DATA): safe to retry."""


class Unconfirmed(Exception):
    """The connection failed while the message was being handed over: it may or may not have been accepted."""


class _ConnectRefused(MailServerError):
    """Connecting failed in a way retrying cannot fix (TLS, credentials, unknown host)."""


class _AuthRefused(_ConnectRefused, AuthenticationError):
    pass


class Transport(Protocol):
    def deliver(self, mail_from: str, rcpt_to: str, data: bytes) -> str: ...

    def close(self) -> None: ...


class SmtpTransport:
    """One SMTP connection (reopened as needed) that delivers one message to one recipient at a time."""

    def __init__(self, config: SmtpSettings, password: Secret | None) -> None:
        self.config = config
        self.password = password
        self.smtp: smtplib.SMTP | None = None

    # -- connection

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        host, port = cfg.host, cfg.effective_port
        context = ssl.create_default_context()  # verifies the certificate and host name
        smtp: smtplib.SMTP
        try:
            if cfg.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    host, port, local_hostname=cfg.helo, timeout=cfg.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(host, port, local_hostname=cfg.helo, timeout=cfg.timeout)
                if cfg.security == "starttls":
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        smtp.close()
                        raise _ConnectRefused(
                            host, "the server does not offer STARTTLS; refusing to send in clear"
                        )
                    smtp.starttls(context=context)
            smtp.ehlo()
            if isinstance(self.password, OAuth2Login):
                _oauth2_login(smtp, host, self.password)
            elif cfg.username:
                if self.password is None:
                    raise _ConnectRefused(host, f"no SMTP password for {cfg.username}")
                smtp.login(cfg.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise _AuthRefused(
                host, f"SMTP login failed for {cfg.username}: {_reply(exc.smtp_error)}"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise _ConnectRefused(host, f"SMTP: {exc}") from exc
        except socket.gaierror as exc:
            raise _ConnectRefused(host, f"unknown host ({exc.strerror})") from exc
        except ssl.SSLCertVerificationError as exc:
            raise _ConnectRefused(host, f"TLS certificate not trusted: {exc.verify_message}") from exc
        except ssl.SSLError as exc:
            raise _ConnectRefused(host, f"TLS error: {exc.reason or exc}") from exc
        except smtplib.SMTPConnectError as exc:
            raise MailServerError(host, f"port {port}: {exc.smtp_code} {_reply(exc.smtp_error)}") from exc
        except smtplib.SMTPException as exc:
            raise MailServerError(host, f"port {port}: SMTP error: {exc}") from exc
        except OSError as exc:
            raise network_error(host, port, exc) from exc
        return smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                with contextlib.suppress(OSError):
                    self.smtp.close()
            self.smtp = None

    def _drop(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError):
                self.smtp.close()
            self.smtp = None

    # -- one message

    def deliver(self, mail_from: str, rcpt_to: str, data: bytes) -> str:
        """Hand one message over; returns the server's final reply.  Raises the failures above."""
        if self.smtp is None:
            try:
                self.smtp = self._connect()
            except _ConnectRefused as exc:  # retrying cannot help: credentials, TLS, no such host
                raise SenderRefused(str(exc)) from exc
            except MailServerError as exc:
                raise NotDelivered(str(exc)) from exc
        smtp = self.smtp
        options = ["SMTPUTF8"] if not (mail_from + rcpt_to).isascii() else []
        try:
            code, reply = smtp.mail(mail_from, options)
            self._check(code, reply, stage="MAIL FROM")
            code, reply = smtp.rcpt(rcpt_to)
            self._check(code, reply, stage="RCPT TO")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise NotDelivered(f"connection lost before DATA: {exc}") from exc
        try:
            code, reply = smtp.data(data)
        except smtplib.SMTPDataError as exc:  # the server refused DATA itself: nothing was handed over
            self._reset()
            self._raise_for(exc.smtp_code, _reply(exc.smtp_error))
            raise  # pragma: no cover - _raise_for always raises
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise Unconfirmed(f"connection lost during DATA: {exc}") from exc
        if code == 250:
            return f"{code} {_reply(reply)}"
        self._reset()
        self._raise_for(code, _reply(reply))
        raise AssertionError("unreachable")  # pragma: no cover

    def _check(self, code: int, reply: bytes, stage: str) -> None:
        if 200 <= code < 300:
            return
        self._reset()
        if stage == "MAIL FROM" and code >= 500:
            raise SenderRefused(f"{self.config.host}: MAIL FROM refused: {code} {_reply(reply)}")
        self._raise_for(code, _reply(reply))

    def _raise_for(self, code: int, text: str) -> None:
        if code == 421 or code == -1:
            self._drop()
        if 400 <= code < 500 or code == -1:
            raise TemporaryFailure(code, text)
        raise PermanentFailure(code, text)

    def _reset(self) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()


def _oauth2_login(smtp: smtplib.SMTP, host: str, login: OAuth2Login) -> None:
    """AUTH XOAUTH2 (or OAUTHBEARER) with the login's access token; refused, once more with a renewed
    token, then an error naming the mailbox and what to run."""
    offered = [m.upper() for m in smtp.esmtp_features.get("auth", "").split()]
    mechanism = sasl_mechanism(login.mechanism, offered)
    refused = ""
    for fresh in (False, True):
        token = login.access_token(fresh=fresh)
        if mechanism == "OAUTHBEARER":
            initial = f"n,a={login.username},\x01auth=Bearer {token}\x01\x01"
        else:
            initial = f"user={login.username}\x01auth=Bearer {token}\x01\x01"

        def answer(challenge: bytes | None = None, initial: str = initial) -> str:
            return initial if challenge is None else ""  # after an error challenge: end the exchange

        try:
            smtp.auth(mechanism, answer, initial_response_ok=True)
            return
        except smtplib.SMTPAuthenticationError as exc:
            refused = f"{exc.smtp_code} {_reply(exc.smtp_error)}"
    raise _AuthRefused(host, str(login.refused(host, f"{mechanism}: {refused}")).removeprefix(f"{host}: "))


def _reply(value: bytes | str) -> str:
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)).strip()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = [
    "NotDelivered",
    "PermanentFailure",
    "SenderRefused",
    "SmtpTransport",
    "TemporaryFailure",
    "Transport",
    "Unconfirmed",
    "is_loopback",
]
