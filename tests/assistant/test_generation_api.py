"""Optional phrasing by an OpenAI-compatible server (a real local HTTP server speaking the same API,
:class:`tests.assistant.fake_llm.FakeLLM`), through the assistant's HTTP API: a faithful phrasing is used;
one that invents a fee, cites a passage it was not given or cannot be reached is dropped and the extractive
answer is given instead (and says which check failed); with no server configured nothing is sent."""

from __future__ import annotations

import pytest

from cityai.assistant import service
from cityai.assistant.demo import builtin
from tests.assistant.fake_llm import FakeLLM

ASK = "/api/v1/assistant/ask"


@pytest.fixture
def llm(platform, users):
    with platform.system_context() as ctx:
        service.import_records(ctx, agency_id=users.city, kind="procedure", records=builtin()["procedures"])
    with FakeLLM() as server:
        platform.settings.assistant_llm_url = server.url
        platform.settings.assistant_llm_model = "qwen-city"
        platform.settings.assistant_llm_timeout_s = 2.0
        yield server
    platform.settings.assistant_llm_url = ""


QUESTION = "Lệ phí đăng ký kết hôn bao nhiêu?"


def test_a_faithful_phrasing_is_used(client, llm):
    llm.behaviour = "faithful"
    out = client.post(ASK, json={"question": QUESTION}).json()
    assert out["status"] == "answered" and out["generation"]["used"] is True
    assert out["generation"]["model"] == "qwen-city" and out["generation"]["cited"] == [1]
    assert out["answer"].endswith("[1].") and "Đăng ký kết hôn" in out["answer"]
    sent = llm.requests[-1]["body"]
    assert sent["model"] == "qwen-city" and sent["temperature"] == 0
    user = sent["messages"][-1]["content"]
    assert 'source="procedure DEMO-HT-02"' in user and "Miễn lệ phí" in user


@pytest.mark.parametrize("behaviour, reason", [
    ("invented-fee", "unsupported-number"), ("unknown-citation", "unknown-citation"),
    ("uncited", "uncited-number"), ("http-500", "http-500"), ("garbage", "bad-response"),
])
def test_a_bad_phrasing_falls_back_to_the_extractive_answer(client, llm, behaviour, reason):
    llm.behaviour = behaviour
    out = client.post(ASK, json={"question": QUESTION}).json()
    assert out["status"] == "answered" and out["generation"] == {"used": False, "rejected": reason}
    assert "999.000" not in out["answer"] and "Miễn phí" in out["answer"]
    assert {c["source_id"] for c in out["citations"]} == {"DEMO-HT-02"}


def test_an_unreachable_server_falls_back(client, llm, platform):
    platform.settings.assistant_llm_url = "http://127.0.0.1:9/v1"
    out = client.post(ASK, json={"question": QUESTION}).json()
    assert out["generation"] == {"used": False, "rejected": "unreachable"} and "Miễn phí" in out["answer"]


def test_not_found_and_clarify_are_never_sent_to_the_model(client, llm):
    llm.behaviour = "faithful"
    before = len(llm.requests)
    out = client.post(ASK, json={"question": "Thời tiết hôm nay thế nào?"}).json()
    assert out["status"] == "not_found" and "generation" not in out
    out = client.post(ASK, json={"question": "Cấp bản sao trích lục hộ tịch"}).json()
    assert out["status"] == "clarify" and "generation" not in out
    assert len(llm.requests) == before
