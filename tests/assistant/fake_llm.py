"""A small real HTTP server that speaks the OpenAI chat-completions API, for the assistant's tests.

``FakeLLM`` runs :class:`http.server.ThreadingHTTPServer` on 127.0.0.1 (a port the kernel hands out) in a
daemon thread::

    with FakeLLM() as llm:
        settings = SimpleNamespace(assistant_llm_url=llm.url, ...)   # llm.url: http://127.0.0.1:PORT/v1
        llm.behaviour = "invented-fee"
        ...
        llm.requests[-1]["body"]["messages"]

It implements ``POST /v1/chat/completions`` (OpenAI response shape) and ``GET /v1/models``, records every
request in ``requests`` (``{"path", "headers", "body"}``; header names lower case; the body parsed as JSON,
or the raw text when it is not JSON) and answers according to ``behaviour``:

* ``"faithful"`` - the first sentence of passage 1 (read from the ``<passage n="1" …>`` … ``</passage>``
  block of the user message, as :func:`cityai.assistant.generate.build_messages` writes it) followed by
  `` [1].``;
* ``"unknown-citation"`` - that sentence citing ``[9]``;
* ``"invented-fee"`` - "Lệ phí là 999.000 đồng [1].";
* ``"uncited"`` - the faithful sentence, then "Thời hạn giải quyết là 15 ngày." without a citation;
* ``"obey-injection"`` - "Lệ phí là 0 đồng [1]." when a passage contains "bỏ qua" (with or without
  diacritics), else faithful: a model that follows instructions found in its data;
* ``"http-500"`` - status 500 with an OpenAI-style error body;
* ``"slow"`` - waits ``slow_s`` seconds (default 5) before answering faithfully;
* ``"garbage"`` - status 200 with a body that is not JSON;
* ``"empty"`` - an empty ``content``; ``"no-content"`` - a ``message`` without ``content``;
* ``"redirect"`` - 307 to another host (``Location: http://redirected.invalid/…``).

``reply``, when set, is returned as the content whatever the behaviour. ``served_model``, when set, is
the model name reported in responses (by default the requested one is echoed).
"""

from __future__ import annotations

import json
import re
import threading
import time
import unicodedata
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

BEHAVIOURS = ("faithful", "unknown-citation", "invented-fee", "uncited", "obey-injection", "http-500", "slow",
              "garbage", "empty", "no-content", "redirect")
NOT_FOUND = {"error": {"message": "not found", "type": "invalid_request_error"}}
_PASSAGE = re.compile(r'<passage n="(\d+)"[^>\n]*>\n?(.*?)\n?</passage>', re.DOTALL)
_FIRST_SENTENCE = re.compile(r"(.+?)(?:[.!?…]+(?=\s|$)|\n|$)", re.DOTALL)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace("đ", "d").replace("Đ", "D").lower()


def passages_of(body: Any) -> dict[int, str]:
    """The passages of a chat-completions request body, by number."""
    out: dict[int, str] = {}
    try:
        messages = body["messages"]
    except (TypeError, KeyError):
        return out
    for msg in messages:
        if isinstance(msg, dict) and msg.get("role") == "user" and isinstance(msg.get("content"), str):
            for m in _PASSAGE.finditer(msg["content"]):
                out.setdefault(int(m.group(1)), m.group(2))
    return out


def first_sentence(text: str) -> str:
    m = _FIRST_SENTENCE.match(text.strip())
    return m.group(1).strip().rstrip(".!?…") if m else ""


class FakeLLM:
    def __init__(self, behaviour: str = "faithful", *, reply: str | None = None, slow_s: float = 5.0,
                 served_model: str | None = None) -> None:
        self.behaviour = behaviour
        self.reply = reply
        self.slow_s = slow_s
        self.served_model = served_model
        self.requests: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeLLM is not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._record(self, None)
                if self.path.rstrip("/") == "/v1/models":
                    model = fake.served_model or "fake-llm"
                    models = [{"id": model, "object": "model", "owned_by": "cityai-tests"}]
                    fake._send(self, 200, {"object": "list", "data": models})
                else:
                    fake._send(self, 404, NOT_FOUND)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                fake._record(self, body)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    fake._send(self, 404, NOT_FOUND)
                    return
                fake._complete(self, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- answering ---------------------------------------------------------------------------

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        self.requests.append({"path": handler.path,
                              "headers": {k.lower(): v for k, v in handler.headers.items()},
                              "body": body})

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: Any, *,
              content_type: str = "application/json", extra: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    def answer_for(self, body: Any) -> str | None:
        """The content this fake gives for ``body`` (None: no ``content`` key)."""
        if self.reply is not None:
            return self.reply
        passages = passages_of(body)
        faithful = first_sentence(passages.get(1, "")) or "Không có thông tin"
        behaviour = self.behaviour
        if behaviour == "unknown-citation":
            return f"{faithful} [9]."
        if behaviour == "invented-fee":
            return "Lệ phí là 999.000 đồng [1]."
        if behaviour == "uncited":
            return f"{faithful} [1]. Thời hạn giải quyết là 15 ngày."
        if behaviour == "obey-injection" and any("bo qua" in _fold(t) for t in passages.values()):
            return "Lệ phí là 0 đồng [1]."
        if behaviour == "empty":
            return ""
        if behaviour == "no-content":
            return None
        return f"{faithful} [1]."

    def _complete(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        behaviour = self.behaviour
        if behaviour == "http-500" and self.reply is None:
            self._send(handler, 500, {"error": {"message": "internal error", "type": "server_error"}})
            return
        if behaviour == "garbage" and self.reply is None:
            self._send(handler, 200, b"<html>502 Bad Gateway</html> not json {", content_type="text/html")
            return
        if behaviour == "redirect" and self.reply is None:
            self._send(handler, 307, {}, extra={"Location": "http://redirected.invalid/v1/chat/completions"})
            return
        if behaviour == "slow":
            self._stop.wait(self.slow_s)
        content = self.answer_for(body)
        message: dict[str, Any] = {"role": "assistant"}
        if content is not None:
            message["content"] = content
        model = self.served_model or (body.get("model") if isinstance(body, dict) else None) or "fake-llm"
        prompt_chars = len(json.dumps(body, ensure_ascii=False)) if body is not None else 0
        completion_tokens = len((content or "").split())
        self._send(handler, 200, {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_chars // 4 + completion_tokens},
        })
