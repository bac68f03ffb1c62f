"""Vector stores: the file store (persistence, incremental updates, atomic saves) and pgvector."""

from __future__ import annotations

import importlib
import os
import uuid

import numpy as np
import pytest

from cityai.language.vectors import FileVectorStore, open_store, pgvector_unavailable

# the package may define functions named like its submodules: import the module by path
vectors = importlib.import_module("cityai.language.vectors")

PG_URL = os.environ.get("CITYAI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def basis(i: int, dim: int = 4) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def fill(store) -> None:
    store.upsert(["a", "b", "c"], np.stack([basis(0), basis(1), unit(1, 1, 0, 0)]),
                 [{"kind": "x"}, {"kind": "y"}, {"kind": "x"}])


def check_store_contract(store) -> None:
    """What every backend must do; the store is empty and has dimension 4 or none."""
    assert len(store) == 0
    assert store.search(basis(0), 5) == []
    fill(store)
    assert len(store) == 3
    hits = store.search(basis(0), 2)
    assert [h["id"] for h in hits] == ["a", "c"]
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert hits[1]["score"] == pytest.approx(2 ** -0.5, abs=1e-5)
    assert hits[0]["metadata"] == {"kind": "x"}
    # k larger than the store: everything, best first
    assert [h["id"] for h in store.search(basis(1), 50)] == ["b", "c", "a"]
    assert store.search(basis(1), 0) == []
    # a filter on metadata
    assert [h["id"] for h in store.search(basis(1), 5, where={"kind": "x"})] == ["c", "a"]
    # upsert replaces by id; vectors are normalised on the way in
    store.upsert(["a"], [[0.0, 0.0, 0.0, 5.0]], [{"kind": "z"}])
    assert len(store) == 3
    assert store.search(basis(3), 1)[0]["id"] == "a"
    assert store.search(basis(3), 1)[0]["metadata"] == {"kind": "z"}
    assert store.search(basis(0), 1)[0]["id"] == "c"
    got = store.get(["a", "nope"])
    assert list(got) == ["a"] and np.allclose(got["a"], basis(3), atol=1e-6)
    # delete
    assert store.delete(["c", "missing"]) == 1
    assert sorted(store.ids()) == ["a", "b"]
    assert sorted(h["id"] for h in store.search(basis(0), 5)) == ["a", "b"]
    with pytest.raises(ValueError):
        store.upsert(["d"], np.ones((1, 3), dtype=np.float32))


# ------------------------------------------------------------------------------------------ file


def test_file_store_contract(tmp_path):
    check_store_contract(open_store(f"file://{tmp_path}", "idx"))


def test_open_store_by_url(tmp_path):
    assert isinstance(open_store(tmp_path, "plain"), FileVectorStore)
    s = open_store(f"file://{tmp_path}/sub", "viaurl")
    assert s.dir == tmp_path / "sub" / "viaurl"
    with pytest.raises(ValueError, match="scheme"):
        open_store("s3://bucket/x", "idx")
    with pytest.raises(ValueError, match="invalid index name"):
        open_store(tmp_path, "../escape")


def test_file_store_persists_and_reloads(tmp_path):
    s = open_store(tmp_path, "idx")
    fill(s)
    s2 = open_store(tmp_path, "idx")
    assert len(s2) == 3 and s2.dim == 4
    assert [h["id"] for h in s2.search(basis(1), 2)] == ["b", "c"]
    # files on disk: one generation of vectors + items, and the manifest
    names = sorted(p.name for p in (tmp_path / "idx").iterdir() if not p.name.startswith("."))
    assert len(names) == 3 and "manifest.json" in names
    assert any(n.startswith("vectors-") and n.endswith(".npy") for n in names)


def test_two_handles_see_each_others_writes(tmp_path):
    s1, s2 = open_store(tmp_path, "idx"), open_store(tmp_path, "idx")
    s1.upsert(["a"], [basis(0)])
    s2.upsert(["b"], [basis(1)])  # s2 reloads before writing: "a" is kept
    assert sorted(s1.ids()) == ["a", "b"]
    s1.delete(["b"])
    assert s2.ids() == ["a"]


def test_crash_during_save_keeps_the_previous_index(tmp_path, monkeypatch):
    s = open_store(tmp_path, "idx")
    fill(s)
    real = vectors._write_atomic

    def crash_on_manifest(path, write):
        if path.name == "manifest.json":
            raise OSError("disk full (simulated)")
        return real(path, write)

    monkeypatch.setattr(vectors, "_write_atomic", crash_on_manifest)
    with pytest.raises(OSError, match="simulated"):
        s.upsert(["d"], [basis(3)])
    with pytest.raises(OSError, match="simulated"):
        s.delete(["a"])
    # the failed mutations are not visible in memory either
    assert sorted(s.ids()) == ["a", "b", "c"]
    monkeypatch.setattr(vectors, "_write_atomic", real)
    again = open_store(tmp_path, "idx")
    assert sorted(again.ids()) == ["a", "b", "c"]
    assert again.search(basis(3), 1)[0]["id"] != "d"

    # a crash while writing the vectors file itself (half-written temp file) is harmless too
    def crash_mid_npy(path, write):
        if path.name.startswith("vectors-"):
            tmp = path.with_name(".tmp-crash-" + path.name)
            tmp.write_bytes(b"\x93NUMPY half")
            raise KeyboardInterrupt
        return real(path, write)

    monkeypatch.setattr(vectors, "_write_atomic", crash_mid_npy)
    with pytest.raises(KeyboardInterrupt):
        s.upsert(["e"], [basis(2)])
    monkeypatch.setattr(vectors, "_write_atomic", real)
    assert sorted(open_store(tmp_path, "idx").ids()) == ["a", "b", "c"]
    # the next successful save removes the leftovers
    s.upsert(["e"], [basis(2)])
    assert not [p for p in (tmp_path / "idx").iterdir() if p.name.startswith(".tmp-")]
    assert sorted(open_store(tmp_path, "idx").ids()) == ["a", "b", "c", "e"]


def test_batch_saves_once_and_not_on_error(tmp_path, monkeypatch):
    s = open_store(tmp_path, "idx")
    saves = []
    real = s._save
    monkeypatch.setattr(s, "_save", lambda: (saves.append(1), real()))
    with s.batch():
        for i in range(5):
            s.upsert([f"d{i}"], [basis(i % 4)])
    assert len(saves) == 1 and len(open_store(tmp_path, "idx")) == 5
    with pytest.raises(RuntimeError):
        with s.batch():
            s.delete(["d0", "d1"])
            raise RuntimeError("abort")
    assert len(saves) == 1 and len(s) == 5 and len(open_store(tmp_path, "idx")) == 5


def test_drop(tmp_path):
    s = open_store(tmp_path, "idx")
    fill(s)
    s.drop()
    assert len(s) == 0 and len(open_store(tmp_path, "idx")) == 0


# -------------------------------------------------------------------------------------- pgvector


@pytest.fixture
def pg_store():
    reason = pgvector_unavailable(PG_URL)
    if reason:
        pytest.skip(reason)
    name = "t_" + uuid.uuid4().hex[:12]
    store = open_store(PG_URL, name, 4, index="hnsw")
    try:
        yield store
    finally:
        store.drop()
        store.close()


def test_pgvector_store_contract(pg_store):
    assert pg_store.table.startswith("cityai_vectors_t_")
    check_store_contract(pg_store)


def test_pgvector_store_reopens(pg_store):
    fill(pg_store)
    again = open_store(PG_URL, pg_store.name, index="exact")
    try:
        assert again.dim == 4 and len(again) == 3
        assert [h["id"] for h in again.search(basis(1), 2)] == ["b", "c"]
    finally:
        again.close()


def test_pgvector_unavailable_explains():
    reason = pgvector_unavailable("postgresql://postgres@127.0.0.1:1/none")
    assert reason and "not reachable" in reason
