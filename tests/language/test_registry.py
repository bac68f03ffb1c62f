"""Models as files: publishing swaps a finished model in; a crash leaves the published one."""

from __future__ import annotations

import pytest

from cityai.language import registry


def test_publish_then_replace(tmp_path):
    assert registry.built_dir("demo", tmp_path).exists() is False
    with registry.publishing("demo", {"trained_on": "a"}, tmp_path) as d:
        (d / "weights.bin").write_bytes(b"v1")
    folder = registry.model_dir("demo", tmp_path)
    assert folder == registry.built_dir("demo", tmp_path)
    assert registry.read_meta(folder)["trained_on"] == "a" and (folder / "weights.bin").read_bytes() == b"v1"
    with registry.publishing("demo", {"trained_on": "b"}, tmp_path) as d:
        (d / "weights.bin").write_bytes(b"v2")
    assert (registry.model_dir("demo", tmp_path) / "weights.bin").read_bytes() == b"v2"
    leftovers = [p.name for p in registry.models_root(tmp_path).iterdir() if p.name != "demo"]
    assert leftovers == []


def test_crash_during_training_keeps_the_published_model(tmp_path):
    with registry.publishing("demo", {"trained_on": "good"}, tmp_path) as d:
        (d / "weights.bin").write_bytes(b"good")
    with pytest.raises(RuntimeError):
        with registry.publishing("demo", {"trained_on": "bad"}, tmp_path) as d:
            (d / "weights.bin").write_bytes(b"half")
            raise RuntimeError("killed mid-training")
    folder = registry.model_dir("demo", tmp_path)
    assert registry.read_meta(folder)["trained_on"] == "good" and (folder / "weights.bin").read_bytes() == b"good"
    assert [p.name for p in registry.models_root(tmp_path).iterdir()] == ["demo"]


def test_unbuilt_model_falls_back_to_packaged_or_none(tmp_path):
    assert registry.model_dir("no-such-model", tmp_path) is None
    seg = registry.model_dir("segmenter", tmp_path)
    assert seg is not None and seg.parent == registry.PACKAGED  # shipped, trained on UD-VTB only
    assert "ud" in str(registry.read_meta(seg).get("trained_on", "")).lower()
