"""`cityai assistant ...` in a subprocess: import procedures (portal JSON Lines, gzipped) and laws, with the
import being one transaction and the bad records listed; ask from the shell; rebuild a lost index."""

from __future__ import annotations

import gzip
import json
import shutil

from tests.assistant.test_procedures import PORTAL
from tests.serverproc import cityai_env, run_cli


def _env(tmp_path):
    env = cityai_env(tmp_path / "home", CITYAI_LOG_LEVEL="WARNING")
    r = run_cli(["demo", "load"], env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return env


def test_import_ask_and_reindex(tmp_path):
    env = _env(tmp_path)
    path = tmp_path / "procedures.jsonl.gz"
    other = dict(PORTAL, ma_thu_tuc="9.999002", ten_thu_tuc="Cấp phép khai thác thử nghiệm nước ngầm")
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for rec in (PORTAL, other, {"ma_thu_tuc": ""}):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    r = run_cli(["assistant", "import-procedures", str(path), "--no-embed"], env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "created 2" in r.stdout and "invalid 1" in r.stdout
    assert "record 2" in r.stderr  # the bad one is named
    # the same file again changes nothing
    r = run_cli(["assistant", "import-procedures", str(path), "--no-embed"], env, timeout=300)
    assert "unchanged 2" in r.stdout
    laws = tmp_path / "law.json"
    laws.write_text(json.dumps([{"id": "Luật Thử nghiệm", "articles": [
        {"id": "5", "text": "Thời hạn giấy phép thử nghiệm\n\nGiấy phép thử nghiệm có thời hạn 24 tháng."}]}],
        ensure_ascii=False), encoding="utf-8")
    r = run_cli(["assistant", "import-laws", str(laws), "--no-embed"], env, timeout=300)
    assert r.returncode == 0 and "created 1" in r.stdout, r.stderr[-2000:]
    r = run_cli(["assistant", "ask", "Giấy phép thử nghiệm cấp tỉnh hết bao nhiêu tiền?", "--json"], env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["status"] == "answered" and out["citations"][0]["source_id"] == "9.999001"
    assert "50,000 Việt Nam Đồng" in out["answer"]
    # the index is lost (a crash, a restore of the database): reindex rebuilds it from the database
    shutil.rmtree(tmp_path / "home" / "indexes" / "assistant")
    r = run_cli(["assistant", "reindex", "--no-embed"], env, timeout=300)
    assert r.returncode == 0 and "of 15 sources" in r.stdout, (r.stdout, r.stderr[-2000:])
    r = run_cli(["assistant", "ask", "Luật Thử nghiệm: giấy phép thử nghiệm có thời hạn bao lâu?", "--json"], env,
                timeout=300)
    out = json.loads(r.stdout)
    assert out["citations"][0]["source_id"] == "Luật Thử nghiệm#5" and "24 tháng" in out["answer"]


def test_unreadable_files_are_clear_errors(tmp_path):
    env = cityai_env(tmp_path / "home", CITYAI_LOG_LEVEL="WARNING")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    r = run_cli(["assistant", "import-laws", str(bad)], env)
    assert r.returncode == 2 and "bad.json" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(["assistant", "import-procedures", str(bad)], env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run_cli(["assistant", "import-procedures", str(tmp_path / "missing.jsonl")], env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
