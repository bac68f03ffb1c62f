"""`cityai language train` builds the models from corpora shaped like ../shared/data into CITYAI_HOME,
and `cityai language models` then reports them as built (tiny corpora written here)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cityai.cli import cli
from cityai.core import config
from cityai.language import registry
from tests.language.test_ner import write_corpus

SEG = """<pTitle>
Ủy_ban nhân_dân thành_phố ban_hành kế_hoạch mới
</pTitle>
<pBody>
Sở Y_tế chủ_trì thực_hiện kế_hoạch chuyển_đổi số .
Người_dân được hướng_dẫn sử_dụng dịch_vụ công trực_tuyến .
Ủy_ban nhân_dân phường tổ_chức hội_nghị tập_huấn cho cán_bộ .
</pBody>
"""


def test_train_all_then_models_are_built(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "_settings", None)  # the command sets the process settings; restored after
    data = tmp_path / "data"
    seg_dir = data / "vlsp2013-ws" / "train" / "Trainset-Segmentation-1"
    seg_dir.mkdir(parents=True)
    for i in range(4):
        (seg_dir / f"{i}.seg").write_text(SEG, encoding="utf-8")
    write_corpus(data)
    home = tmp_path / "home"
    monkeypatch.setenv("CITYAI_HOME", str(home))
    runner = CliRunner()
    res = runner.invoke(cli, ["language", "train", "all", "--data", str(data)])
    assert res.exit_code == 0, res.output
    for name in ("segmenter", "pos", "ner"):
        folder = registry.built_dir(name, home)
        assert (folder / "meta.json").is_file(), name
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert [x["model"] for x in lines] == ["segmenter", "pos", "ner"]
    shown = [json.loads(x) for x in runner.invoke(cli, ["language", "models"]).stdout.splitlines() if x.startswith("{")]
    assert {m["name"]: m["source"] for m in shown} == {"segmenter": "built", "pos": "built", "ner": "built"}


def test_train_without_data_is_a_clear_usage_error(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "_settings", None)
    monkeypatch.setenv("CITYAI_HOME", str(tmp_path / "home"))
    res = CliRunner().invoke(cli, ["language", "train", "pos", "--data", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "--data" in res.output
    assert registry.model_dir("pos", tmp_path / "home").parent == registry.PACKAGED  # nothing built
