"""The network traffic model of an agency: training from stored speeds, congestion probabilities.

:class:`cityai.sensing.forecast.TrafficModel` learns speed at +15/30/60 minutes across all of an agency's
``TrafficFlowObserved`` sensors at once, using the road network's adjacency. Here it is trained from the
stored ``averageVehicleSpeed`` series (the last ``days`` days on a 5-minute grid) and kept in the blob store
(``sensing/traffic/<agency id>.npz`` + ``.json``). The adjacency is given (a CSV matrix in the sensors' order,
e.g. the road network's), or else built from the sensors' positions with a thresholded Gaussian kernel of
their distance (the construction DCRNN and T-GCN use, on straight-line rather than road distance).

Congestion is a speed under a threshold: by default 60% of the sensor's free-flow speed (its 95th
percentile), so one rule fits urban streets and highways; the probability is the model's predictive
distribution below it.
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from cityai.core import authz
from cityai.core.db import utcnow
from cityai.sensing import store
from cityai.sensing.models import Entity, Observation

ATTRIBUTE = "averageVehicleSpeed"
STEP_MIN = 5
STEP_MS = STEP_MIN * 60_000
FREE_FLOW_SHARE = 0.6
_CACHE: dict[int, tuple[str, Any, dict]] = {}
_LOCK = threading.Lock()


def _key(agency_id: int) -> str:
    return f"sensing/traffic/{agency_id}"


def distance_adjacency(lat: np.ndarray, lon: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """exp(-(d/σ)²) of the great-circle distances, σ their standard deviation; below ``threshold`` → 0."""
    la, lo = np.radians(lat)[:, None], np.radians(lon)[:, None]
    a = np.sin((la - la.T) / 2) ** 2 + np.cos(la) * np.cos(la.T) * np.sin((lo - lo.T) / 2) ** 2
    d = 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    sigma = d[np.triu_indices(len(lat), 1)].std() if len(lat) > 1 else 1.0
    w = np.exp(-((d / max(sigma, 1e-6)) ** 2))
    w[w < threshold] = 0.0
    np.fill_diagonal(w, 1.0)
    return w


def speed_matrix(db: Any, entity_ids: list[str], start_ms: int, end_ms: int) -> np.ndarray:
    """T x N mean speeds on the 5-minute grid [start, end); NaN where a sensor had no value."""
    steps = max(1, (end_ms - start_ms) // STEP_MS)
    m = np.full((steps, len(entity_ids)), np.nan)
    sums = np.zeros_like(m)
    counts = np.zeros_like(m)
    col = {e: i for i, e in enumerate(entity_ids)}
    for i in range(0, len(entity_ids), 200):
        rows = db.execute(select(Observation.entity_id, Observation.t_ms, Observation.value).where(
            Observation.entity_id.in_(entity_ids[i:i + 200]), Observation.attribute == ATTRIBUTE,
            Observation.t_ms >= start_ms, Observation.t_ms < end_ms))
        for eid, t, v in rows:
            r = (int(t) - start_ms) // STEP_MS
            if 0 <= r < steps:
                sums[r, col[eid]] += v
                counts[r, col[eid]] += 1
    np.divide(sums, counts, out=m, where=counts > 0)
    return m


def train(platform: Any, agency_id: int, *, days: int = 7, adjacency: np.ndarray | None = None,
          progress: Any = None) -> dict[str, Any]:
    from cityai.sensing.forecast import TrafficModel

    with platform.system_context(write=False) as ctx:
        ents = list(ctx.db.execute(select(Entity).where(Entity.agency_id == agency_id,
                                                        Entity.type == "TrafficFlowObserved")
                                   .order_by(Entity.id)).scalars())
        ids = [e.id for e in ents]
        if len(ids) < 2:
            raise ValueError("the agency needs at least 2 traffic sensors with data to train a network model")
        last = max((store.latest(ctx.db, e, ATTRIBUTE) or (0, 0))[0] for e in ids)
        if not last:
            raise ValueError("no averageVehicleSpeed values stored yet")
        end = last - last % STEP_MS + STEP_MS
        start = end - days * store.DAY_MS
        speeds = speed_matrix(ctx.db, ids, start, end)
        coords = [(e.lat, e.lon) for e in ents]
    if progress:
        progress(30, "speeds loaded")
    keep = np.where(np.isfinite(speeds).mean(axis=0) >= 0.5)[0]
    if len(keep) < 2:
        raise ValueError("fewer than 2 sensors have values for half of the training period")
    n_all = len(ids)
    speeds = speeds[:, keep]
    ids = [ids[i] for i in keep]
    if adjacency is not None:
        adj = np.asarray(adjacency, dtype=float)
        if adj.ndim != 2 or adj.shape[0] != adj.shape[1] or adj.shape[0] != n_all:
            raise ValueError(f"the adjacency matrix must be {n_all}x{n_all}, in the order of the sensors' entity ids")
        adj = adj[np.ix_(keep, keep)]
    else:
        if any(coords[i][0] is None for i in keep):
            raise ValueError("sensors without a position need an adjacency matrix (--adjacency)")
        adj = distance_adjacency(np.array([coords[i][0] for i in keep]), np.array([coords[i][1] for i in keep]))
    if adj.shape[0] != len(ids):
        raise ValueError(f"the adjacency matrix is {adj.shape[0]}x{adj.shape[0]}; {len(ids)} sensors need it")
    slot0 = int((start % store.DAY_MS) // STEP_MS)
    model = TrafficModel.fit(speeds, adj, step_minutes=STEP_MIN, start_slot=slot0)
    if progress:
        progress(90, "model fitted")
    free_flow = np.nanpercentile(speeds, 95, axis=0)
    meta = {"entity_ids": ids, "trained_at": utcnow().isoformat(), "start_ms": start, "end_ms": end,
            "thresholds": [round(float(x) * FREE_FLOW_SHARE, 3) for x in free_flow], "steps": int(speeds.shape[0]),
            "edges": int((adj > 0).sum() - len(ids))}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.npz"
        model.save(path)
        platform.storage.put(_key(agency_id) + ".npz", path.read_bytes())
    platform.storage.put(_key(agency_id) + ".json", json.dumps(meta).encode())
    with _LOCK:
        _CACHE.pop(agency_id, None)
    return {"sensors": len(ids), "steps": meta["steps"], "edges": meta["edges"]}


def _load(platform: Any, agency_id: int) -> tuple[Any, dict] | None:
    from cityai.sensing.forecast import TrafficModel

    key = _key(agency_id)
    if not platform.storage.exists(key + ".json"):
        return None
    with platform.storage.open(key + ".json") as f:
        raw = f.read()
    meta = json.loads(raw)
    with _LOCK:
        hit = _CACHE.get(agency_id)
        if hit and hit[0] == meta["trained_at"]:
            return hit[1], hit[2]
    with tempfile.TemporaryDirectory() as tmp, platform.storage.open(key + ".npz") as f:
        path = Path(tmp) / "model.npz"
        path.write_bytes(f.read())
        model = TrafficModel.load(path)
    with _LOCK:
        _CACHE[agency_id] = (meta["trained_at"], model, meta)
    return model, meta


def congestion_for(ctx: Any, entity: Entity, last_ms: int) -> dict[str, Any] | None:
    loaded = _load(ctx.platform, entity.agency_id)
    if loaded is None:
        return None
    model, meta = loaded
    ids = meta["entity_ids"]
    if entity.id not in ids:
        return None
    lags = int(getattr(model, "lags", 12))
    end = last_ms - last_ms % STEP_MS + STEP_MS
    recent = speed_matrix(ctx.db, ids, end - lags * STEP_MS, end)
    # carry the last value forward, then the column mean, so a missing reading does not blank a sensor
    for j in range(recent.shape[1]):
        col = recent[:, j]
        for i in range(1, len(col)):
            if math.isnan(col[i]):
                col[i] = col[i - 1]
        if np.isnan(col).all():
            return None
        col[np.isnan(col)] = np.nanmean(col)
    slot = int(((end - STEP_MS) % store.DAY_MS) // STEP_MS)
    thresholds = np.array(meta["thresholds"])
    probs = model.congestion_probability(recent, slot=slot, threshold=thresholds)
    means = model.predict(recent, slot=slot)
    j = ids.index(entity.id)
    return {"threshold": meta["thresholds"][j], "model_trained_at": meta["trained_at"],
            "horizons": [{"minutes": h, "probability": round(float(probs[h][j]), 4),
                          "speed": round(float(means[h][0][j]), 2)} for h in sorted(probs)]}


def _train_job(run: Any) -> dict[str, Any]:
    adjacency = None
    if run.params.get("adjacency"):
        adjacency = np.array(run.params["adjacency"], dtype=float)
    return train(run.platform, int(run.params["agency_id"]), days=int(run.params.get("days", 7)),
                 adjacency=adjacency, progress=lambda p, m: run.progress(p, m))


def _make_job() -> Any:
    from cityai.core.jobs import JobKind

    return JobKind("sensing.train_traffic", ("Giao thông: huấn luyện mô hình mạng", "Traffic: train the network model"),
                   _train_job, auth=authz.agency_role("editor"), retries=0)


TRAIN_JOB = _make_job()
