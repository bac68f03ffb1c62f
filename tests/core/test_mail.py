"""Outgoing e-mail (:mod:`cityai.core.mail`) against a real SMTP server: :class:`SmtpSink`, a small RFC 5321
server written on :mod:`socketserver` (EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that keeps
what it receives. Other tests (tests/sensing) use it too."""

from __future__ import annotations

import base64
import email
import email.policy
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from cityai.core import mail
from cityai.core.config import Settings


@dataclass
class Received:
    mail_from: str
    rcpt: list[str]
    data: bytes
    auth: str | None

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class SmtpSink:
    """A real SMTP server on 127.0.0.1 (a free port) in a thread; ``messages`` are the mails it accepted."""

    user: str | None = None
    password: str | None = None
    refuse: set[str] = field(default_factory=set)
    messages: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                sink._session(self.rfile, self.wfile)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, user: str | None = None, password: str | None = None) -> str:
        cred = f"{user}:{password}@" if user else ""
        return f"smtp://{cred}127.0.0.1:{self.port}"

    def _session(self, rfile: Any, wfile: Any) -> None:
        def say(line: str) -> None:
            wfile.write((line + "\r\n").encode())
            wfile.flush()

        say("220 sink.test ESMTP")
        mail_from: str | None = None
        rcpt: list[str] = []
        authed: str | None = None
        while True:
            raw = rfile.readline(10_000)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            upper = line.upper()
            if upper.startswith("EHLO"):
                say("250-sink.test")
                if self.user:
                    say("250-AUTH PLAIN")
                say("250-8BITMIME")
                say("250 HELP")
            elif upper.startswith("HELO"):
                say("250 sink.test")
            elif upper.startswith("AUTH PLAIN"):
                arg = line[10:].strip()
                if not arg:
                    say("334 ")
                    arg = rfile.readline().decode().strip()
                try:
                    _authz, user, password = base64.b64decode(arg).decode().split("\0")
                except Exception:  # noqa: BLE001
                    say("501 malformed")
                    continue
                if (user, password) == (self.user, self.password):
                    authed = user
                    say("235 2.7.0 Authentication successful")
                else:
                    say("535 5.7.8 Authentication credentials invalid")
            elif upper.startswith("MAIL FROM:"):
                if self.user and not authed:
                    say("530 5.7.0 Authentication required")
                    continue
                mail_from, rcpt = line[10:].split()[0].strip("<>"), []
                say("250 OK")
            elif upper.startswith("RCPT TO:"):
                addr = line[8:].split()[0].strip("<>")
                if mail_from is None:
                    say("503 MAIL first")
                elif addr in self.refuse:
                    say("550 5.1.1 No such user")
                else:
                    rcpt.append(addr)
                    say("250 OK")
            elif upper == "DATA":
                if not rcpt:
                    say("503 RCPT first")
                    continue
                say("354 End data with <CR><LF>.<CR><LF>")
                lines: list[bytes] = []
                while True:
                    chunk = rfile.readline(100_000)
                    if not chunk or chunk in (b".\r\n", b".\n"):
                        break
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)  # dot-unstuffing
                self.messages.append(Received(mail_from or "", list(rcpt), b"".join(lines), authed))
                mail_from, rcpt = None, []
                say("250 OK queued")
            elif upper == "RSET":
                mail_from, rcpt = None, []
                say("250 OK")
            elif upper == "NOOP":
                say("250 OK")
            elif upper == "QUIT":
                say("221 Bye")
                return
            else:
                say("502 Command not implemented")


def settings(tmp_path, smtp_url: str, **kw: Any) -> Settings:
    return Settings(home=tmp_path, secret_key="test-secret", smtp_url=smtp_url, **kw)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sends_utf8_mail_with_authentication(tmp_path):
    with SmtpSink(user="canh.bao@so.gov.vn", password="p@ss:w/rd") as sink:
        s = settings(tmp_path, sink.url("canh.bao%40so.gov.vn", "p%40ss%3Aw%2Frd"), mail_from="cityai@so.gov.vn")
        assert mail.mail_enabled(s)
        mail.send_mail(s, ["a@so.gov.vn", "b@so.gov.vn", "a@so.gov.vn"], "Cảnh báo: mực nước vượt ngưỡng",
                       "Trạm Nhiêu Lộc: 1,25 m\n.dòng bắt đầu bằng dấu chấm\n")
    [got] = sink.messages
    assert got.auth == "canh.bao@so.gov.vn"
    assert got.mail_from == "cityai@so.gov.vn"
    assert got.rcpt == ["a@so.gov.vn", "b@so.gov.vn"]  # de-duplicated
    msg = got.message
    assert msg["Subject"] == "Cảnh báo: mực nước vượt ngưỡng"
    assert msg["From"] == "cityai@so.gov.vn" and msg["To"] == "a@so.gov.vn, b@so.gov.vn"
    assert msg["Message-ID"] and msg["Date"]
    assert msg.get_content().replace("\r\n", "\n") == "Trạm Nhiêu Lộc: 1,25 m\n.dòng bắt đầu bằng dấu chấm\n"


def test_disabled_and_invalid_input(tmp_path):
    s = settings(tmp_path, "")
    assert not mail.mail_enabled(s)
    with pytest.raises(mail.MailNotConfigured):
        mail.send_mail(s, ["a@so.gov.vn"], "x", "y")
    for url in ("http://127.0.0.1:25", "smtp://", "smtp://host:notaport"):
        with pytest.raises(mail.MailError):
            mail.send_mail(settings(tmp_path, url), ["a@so.gov.vn"], "x", "y")
    with SmtpSink() as sink:
        s = settings(tmp_path, sink.url())
        for to in ([], ["not-an-address"], ["a@so.gov.vn\nBcc: x@evil.test"], ["<a@x.vn>"]):
            with pytest.raises(mail.MailError):
                mail.send_mail(s, to, "x", "y")
        with pytest.raises(mail.MailError, match="one line"):
            mail.send_mail(s, ["a@so.gov.vn"], "x\r\nBcc: victim@evil.test", "y")
    assert sink.messages == []


def test_relay_failures_are_mail_errors(tmp_path, caplog):
    with pytest.raises(mail.MailError, match="failed"):
        mail.send_mail(settings(tmp_path, f"smtp://127.0.0.1:{closed_port()}"), ["a@so.gov.vn"], "x", "y", timeout=5)
    with SmtpSink(user="u", password="right", refuse={"gone@so.gov.vn"}) as sink:
        with pytest.raises(mail.MailError, match="authentication"):
            mail.send_mail(settings(tmp_path, sink.url("u", "wrong")), ["a@so.gov.vn"], "x", "y")
        good = settings(tmp_path, sink.url("u", "right"))
        with pytest.raises(mail.MailError, match="refused every recipient"):
            mail.send_mail(good, ["gone@so.gov.vn"], "x", "y")
        # some refused, some not: the others got it; logged, not raised (a retry would send it twice)
        mail.send_mail(good, ["gone@so.gov.vn", "a@so.gov.vn"], "x", "y")
    assert [m.rcpt for m in sink.messages] == [["a@so.gov.vn"]]
    assert any("refused some recipients" in r.getMessage() for r in caplog.records)


def test_parse_smtp_url():
    t = mail.parse_smtp_url("smtps://user%40so.gov.vn:p%2Fw@mail.so.gov.vn")
    assert (t.host, t.port, t.user, t.password, t.implicit_tls) == ("mail.so.gov.vn", 465, "user@so.gov.vn", "p/w", True)
    t = mail.parse_smtp_url("smtp://relay.local")
    assert (t.port, t.user, t.password, t.implicit_tls) == (25, None, None, False)
    assert "p/w" not in repr(mail.parse_smtp_url("smtp://u:p%2Fw@h:2525"))
