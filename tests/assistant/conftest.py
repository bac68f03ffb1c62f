"""Shared fixtures of the assistant's tests: each test's knowledge-base index and rate-limit counts are its own."""

from __future__ import annotations

import pytest

from cityai.assistant import kb, service


@pytest.fixture(autouse=True)
def _fresh_assistant_state():
    yield
    kb.close()
    service.LIMITER._hits.clear()
