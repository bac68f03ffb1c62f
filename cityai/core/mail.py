"""Outgoing e-mail through an SMTP relay (the standard library's :mod:`smtplib`).

One setting names the relay, ``CITYAI_SMTP_URL``:

- ``smtp://[user:password@]host[:port]`` — port 25 by default; the connection is upgraded with STARTTLS
  when the relay offers it (certificate verified), otherwise it stays plain (an internal relay);
- ``smtps://[user:password@]host[:port]`` — TLS from the first byte (port 465 by default);
- empty (the default) — e-mail is disabled: :func:`send_mail` raises :class:`MailNotConfigured`, so a
  caller never believes a message went out when none did (:func:`mail_enabled` asks first).

User and password are percent-decoded (``%40`` for ``@``). ``CITYAI_MAIL_FROM`` is the sender. Messages are
plain text, UTF-8 (Vietnamese subjects are encoded words). A relay refusing some recipients but not all is
logged and not raised (the others got the message; sending again would duplicate it); any other failure
raises :class:`MailError`.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("cityai.mail")

ADDRESS_RE = re.compile(r"^[^@\s<>,;:\"'()\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
MAX_RECIPIENTS = 100
DEFAULT_TIMEOUT_S = 30.0


class MailError(RuntimeError):
    """Sending failed (the relay refused, could not be reached, or the input is invalid)."""


class MailNotConfigured(MailError):
    """``CITYAI_SMTP_URL`` is empty: e-mail is disabled on this deployment."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    user: str | None
    password: str | None
    implicit_tls: bool

    def __repr__(self) -> str:  # never print the password
        return f"SmtpTarget({'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}, user={self.user!r})"


def mail_enabled(settings: Any) -> bool:
    return bool((getattr(settings, "smtp_url", "") or "").strip())


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://user:pass@host:port`` or ``smtps://...`` -> :class:`SmtpTarget`; ValueError when malformed."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("CITYAI_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("CITYAI_SMTP_URL has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("CITYAI_SMTP_URL has an invalid port") from None
    implicit = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if implicit else 25),
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        implicit_tls=implicit,
    )


def valid_address(address: Any) -> bool:
    return isinstance(address, str) and len(address) <= 254 and bool(ADDRESS_RE.fullmatch(address))


def _one_line(value: str, what: str) -> str:
    if "\r" in value or "\n" in value:
        raise MailError(f"the {what} must be one line")
    return value


def build_message(sender: str, to: list[str], subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = _one_line(sender, "sender")
    msg["To"] = ", ".join(to)
    msg["Subject"] = _one_line(subject, "subject")
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "cityai.local"
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(body, charset="utf-8")
    return msg


def send_mail(settings: Any, to: list[str], subject: str, body: str, *,
              timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Send a plain-text message to ``to`` through the relay of ``settings.smtp_url`` from ``settings.mail_from``.

    Raises :class:`MailNotConfigured` when ``smtp_url`` is empty, :class:`MailError` when the input is invalid
    or the relay fails (connection, authentication, every recipient refused).
    """
    if not mail_enabled(settings):
        raise MailNotConfigured("e-mail is disabled: CITYAI_SMTP_URL is not set")
    try:
        target = parse_smtp_url(settings.smtp_url)
    except ValueError as exc:
        raise MailError(str(exc)) from None
    recipients = list(dict.fromkeys(to or []))
    if not recipients:
        raise MailError("no recipients")
    if len(recipients) > MAX_RECIPIENTS:
        raise MailError(f"at most {MAX_RECIPIENTS} recipients")
    bad = [a for a in recipients if not valid_address(a)]
    if bad:
        raise MailError(f"invalid recipient address(es): {', '.join(map(repr, bad[:5]))}")
    sender = getattr(settings, "mail_from", "") or "cityai@localhost"
    msg = build_message(sender, recipients, subject, body)

    context = ssl.create_default_context()
    try:
        if target.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=timeout)
        with smtp:
            smtp.ehlo_or_helo_if_needed()
            tls = target.implicit_tls
            if not tls and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
                tls = True
            if target.user and not tls and target.host not in ("localhost", "127.0.0.1", "::1"):
                # never send the password in clear (a relay that "forgot" STARTTLS may be an attacker's)
                raise MailError(f"{target.host} offers no STARTTLS; refusing to send the SMTP password in clear "
                                "(use smtps:// or a relay with STARTTLS)")
            if target.user:
                smtp.login(target.user, target.password or "")
            refused = smtp.send_message(msg, from_addr=sender, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"the relay refused every recipient: {sorted(exc.recipients)}") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"SMTP authentication failed ({exc.smtp_code})") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"sending through {target.host}:{target.port} failed: {type(exc).__name__}: {exc}") from exc
    if refused:
        log.warning("the relay refused some recipients", extra={"refused": sorted(refused), "subject": subject})
