"""Tests of ``cityai.sensing.forecast``: per-series forecasting and the cross-sensor traffic model, on small
synthetic series and networks (no shared data)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from cityai.sensing.forecast import (
    METHODS,
    Forecast,
    TrafficModel,
    fill_gaps,
    forecast_array,
    forecast_series,
    infer_step,
    resample,
    season_length_steps,
)

T0 = datetime(2025, 6, 2, tzinfo=timezone.utc)


def _times(n: int, step_s: int, start: datetime = T0) -> list[datetime]:
    return [start + timedelta(seconds=step_s * i) for i in range(n)]


def _hourly_seasonal(n: int = 24 * 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    return 50 + 15 * np.sin(2 * np.pi * i / 24) + rng.normal(0, 1.0, n)


# ------------------------------------------------------------------ grid


def test_infer_step_rounds_jittered_five_minutes() -> None:
    rng = np.random.default_rng(1)
    t = np.cumsum(300 + rng.integers(-20, 21, 500)).astype(float)
    assert infer_step(t) == 300
    assert infer_step(np.arange(0, 3600 * 50, 3590.0)) == 3600
    assert infer_step(np.array([0.0, 58, 120, 181, 240])) == 60


def test_resample_averages_buckets_in_any_order_and_keeps_last_points() -> None:
    t = np.array([900.0, 0, 300, 310, 300, 1200, 1500])  # unsorted, a duplicate, two in one bucket
    v = np.array([4.0, 1, 2, 6, 4, np.nan, 8])
    start, y = resample(t, v, 300)
    assert start == 0
    np.testing.assert_allclose(y[:4], [1, 4, np.nan, 4], equal_nan=True)  # bucket 300: mean of 2, 6, 4
    assert np.isnan(y[4]) and y[5] == 8
    start, y = resample(np.arange(100) * 60.0, np.arange(100.0), 60, max_points=10)
    assert start == 90 * 60 and len(y) == 10 and y[0] == 90


def test_fill_gaps_linear_for_short_and_seasonal_for_long() -> None:
    y = np.array([1.0, np.nan, np.nan, 4.0, 5.0])
    np.testing.assert_allclose(fill_gaps(y), [1, 2, 3, 4, 5])
    truth = 10 + np.sin(2 * np.pi * np.arange(24 * 6) / 24) * 5
    holes = truth.copy()
    holes[60:75] = np.nan  # 15 steps: longer than max(3, 24 // 12) -> seasonal fill
    filled = fill_gaps(holes, season=24)
    np.testing.assert_allclose(filled, truth, atol=1e-9)  # exact on a purely periodic series
    linear = fill_gaps(holes, season=1)
    assert np.abs(linear - truth).max() > 1  # a straight line misses the pattern


def test_season_length_steps() -> None:
    assert season_length_steps(86400, 300) == 288
    assert season_length_steps(86400, 3600) == 24
    assert season_length_steps(86400, 86400) == 1
    assert season_length_steps(0, 60) == 1


# ------------------------------------------------------------------ forecast_series


def test_forecast_series_seasonal_hourly_beats_naive() -> None:
    n, h = 24 * 20, 24
    full = _hourly_seasonal(n + h)
    f = forecast_series(_times(n, 3600), full[:n], h * 3600)
    assert isinstance(f, Forecast)
    assert f.step_seconds == 3600 and f.level == 80 and len(f.points) == h
    assert f.method in METHODS and f.method != "Naive"
    assert set(f.backtest) >= {"Naive", "SeasonalNaive", "AutoETS", "AutoTheta", "MSTL"}
    assert f.backtest[f.method] == min(f.backtest.values())
    times = [p["time"] for p in f.points]
    assert times[0] == T0 + timedelta(hours=n) and times[-1] == T0 + timedelta(hours=n + h - 1)
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    for p in f.points:
        assert p["lower"] <= p["value"] <= p["upper"]
    pred = np.array([p["value"] for p in f.points])
    mae = np.abs(pred - full[n:]).mean()
    assert mae < 0.3 * np.abs(full[n - 1] - full[n:]).mean()  # far better than repeating the last value
    lo, hi = np.array([p["lower"] for p in f.points]), np.array([p["upper"] for p in f.points])
    inside = ((full[n:] >= lo) & (full[n:] <= hi)).mean()
    assert 0.5 <= inside <= 1.0


def test_exact_repeating_pattern_picks_seasonal_naive_over_naive() -> None:
    pattern = np.array([5.0, 9, 3, 7, 1, 8])
    y = np.tile(pattern, 10)
    f = forecast_series(_times(len(y), 600), y, 6 * 600, season_seconds=3600,
                        methods=["Naive", "SeasonalNaive"])
    assert f.method == "SeasonalNaive"
    assert f.backtest["SeasonalNaive"] == pytest.approx(0.0, abs=1e-9)
    assert f.backtest["Naive"] > 1
    np.testing.assert_allclose([p["value"] for p in f.points], pattern)


def test_only_requested_methods_and_naive_is_last_value() -> None:
    y = np.array([3.0, 4, 2, 5, 6, 5, 7, 8, 6, 7, 9, 10, 9, 11])
    f = forecast_series(_times(len(y), 60), y, 180, methods=["Naive"])
    assert f.method == "Naive" and set(f.backtest) == {"Naive"}
    assert [p["value"] for p in f.points] == [11.0, 11.0, 11.0]
    wide = forecast_series(_times(len(y), 60), y, 180, methods=["Naive"], level=95).points[-1]
    narrow = forecast_series(_times(len(y), 60), y, 180, methods=["Naive"], level=50).points[-1]
    assert wide["upper"] - wide["lower"] > narrow["upper"] - narrow["lower"] > 0


def test_irregular_unsorted_duplicated_input_matches_the_clean_series() -> None:
    y = _hourly_seasonal(24 * 8, seed=3)
    times = _times(len(y), 3600)
    rng = np.random.default_rng(4)
    order = rng.permutation(len(y))
    # every reading twice (the copy 2 minutes later, same bucket), shuffled
    t2 = [times[i] for i in order] + [times[i] + timedelta(minutes=2) for i in order]
    v2 = list(y[order]) + list(y[order])
    kw = dict(methods=["Naive", "SeasonalNaive", "AutoTheta"], step_seconds=3600)
    a = forecast_series(times, y, 6 * 3600, **kw)
    b = forecast_series(t2, v2, 6 * 3600, **kw)
    assert a.method == b.method
    np.testing.assert_allclose([p["value"] for p in a.points], [p["value"] for p in b.points])


def test_gaps_and_nans_are_filled_and_step_is_inferred() -> None:
    y = _hourly_seasonal(24 * 10, seed=5)
    times = _times(len(y), 3600)
    keep = np.ones(len(y), bool)
    keep[100:104] = False  # a missing stretch of timestamps
    y = y.copy()
    y[150] = np.nan
    f = forecast_series([t for t, k in zip(times, keep) if k], y[keep], 3 * 3600,
                        methods=["Naive", "SeasonalNaive"])
    assert f.step_seconds == 3600 and len(f.points) == 3
    assert all(math.isfinite(p["value"]) for p in f.points)


def test_non_negative_series_get_no_negative_values_or_bounds() -> None:
    rng = np.random.default_rng(6)
    y = np.maximum(0, np.linspace(8, 0.2, 200) + rng.normal(0, 1.5, 200))  # counts falling towards zero
    f = forecast_series(_times(len(y), 900), y, 12 * 3600, season_seconds=0)
    assert min(min(p["value"], p["lower"]) for p in f.points) >= 0
    # the same shape shifted below zero may go negative: clipping is only for non-negative series
    g = forecast_series(_times(len(y), 900), y - 5, 12 * 3600, season_seconds=0)
    assert min(p["lower"] for p in g.points) < 0


def test_forecast_array_same_choice_as_forecast_series() -> None:
    y = _hourly_seasonal(24 * 12, seed=8)
    a = forecast_array(y, 12, season_length=24, methods=["Naive", "SeasonalNaive", "MSTL"])
    s = forecast_series(_times(len(y), 3600), y, 12 * 3600, methods=["Naive", "SeasonalNaive", "MSTL"])
    assert a.method == s.method and a.backtest == s.backtest
    np.testing.assert_allclose(a.mean, [p["value"] for p in s.points])


@pytest.mark.parametrize("horizon, pattern", [
    (0, "positive"), (-60, "positive"), (8 * 86400, "too long"),
])
def test_bad_horizons(horizon: int, pattern: str) -> None:
    y = np.arange(50.0)
    with pytest.raises(ValueError, match=pattern):
        forecast_series(_times(50, 300), y, horizon)


def test_too_many_steps_is_too_long() -> None:
    with pytest.raises(ValueError, match=r"too long: 4320 steps .* at most 2000"):
        forecast_series(_times(100, 60), np.arange(100.0), 3 * 86400)


def test_too_little_history_says_how_much_is_needed() -> None:
    with pytest.raises(ValueError,
                       match=r"too little history: 5 steps of 5 minutes.*at least 12 steps \(1 hour\)"):
        forecast_series(_times(5, 300), np.arange(5.0), 3600)
    with pytest.raises(ValueError, match=r"too little history: 20 steps.*at least 24 steps \(1 day\)"):
        forecast_series(_times(20, 3600), np.arange(20.0), 86400)
    with pytest.raises(ValueError, match="too little history"):
        forecast_series([T0], [1.0], 3600)
    with pytest.raises(ValueError, match="too little history"):
        forecast_series([], [], 3600)


def test_other_input_errors() -> None:
    times = _times(30, 300)
    with pytest.raises(ValueError, match="all values are missing"):
        forecast_series(times, [np.nan] * 30, 3600)
    with pytest.raises(ValueError, match=r"unknown forecasting method: 'Prophet'.*known: Naive"):
        forecast_series(times, np.arange(30.0), 3600, methods=["Naive", "Prophet"])
    with pytest.raises(ValueError, match="timezone-aware"):
        forecast_series([t.replace(tzinfo=None) for t in times], np.arange(30.0), 3600)
    with pytest.raises(ValueError, match="differ in length"):
        forecast_series(times, np.arange(29.0), 3600)
    with pytest.raises(ValueError, match="level"):
        forecast_series(times, np.arange(30.0), 3600, level=100)
    with pytest.raises(ValueError, match="MSTL needs .* two seasons"):
        forecast_series(times, np.arange(30.0), 3600, methods=["MSTL"])
    with pytest.raises(ValueError, match="last value .* missing"):
        forecast_array(np.r_[np.arange(30.0), np.nan], 3)


# ------------------------------------------------------------------ traffic

SPD = 288


def _network(n: int = 8, days: int = 5, seed: int = 0, delay: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Speeds on a chain of ``n`` sensors (time x sensor): a daily profile with two rush hours, and
    anomalies that start at sensor 0 and reach each next sensor ``delay`` steps later; plus the chain's
    adjacency (weights 1 between consecutive sensors, 1 on the diagonal)."""
    rng = np.random.default_rng(seed)
    t_len = days * SPD
    slot = np.arange(t_len) % SPD
    profile = 62 - 20 * np.exp(-((slot - 96) / 14.0) ** 2) - 25 * np.exp(-((slot - 210) / 16.0) ** 2)
    source = np.zeros(t_len)
    for t in range(1, t_len):
        source[t] = 0.97 * source[t - 1] + rng.normal(0, 2.0)
    anomaly = np.zeros((t_len, n))
    for i in range(n):
        lagged = np.r_[np.zeros(delay * i), source[:t_len - delay * i]]
        anomaly[:, i] = lagged + rng.normal(0, 0.7, t_len)
    speeds = np.clip(profile[:, None] * (0.9 + 0.2 * rng.random(n))[None, :] + anomaly, 3, 75)
    adj = np.eye(n)
    for i in range(n - 1):
        adj[i, i + 1] = adj[i + 1, i] = 1.0
    return speeds, adj


def _scores(model: TrafficModel, speeds: np.ndarray, start: int) -> dict[int, float]:
    out: dict[int, list[float]] = {h: [] for h in model.horizons}
    for o in range(start, len(speeds) - 12, 3):
        pred = model.predict(speeds[o - model.lags + 1:o + 1], slot=o % SPD)
        for h, (mean, _) in pred.items():
            out[h].append(float(np.abs(mean - speeds[o + h // 5]).mean()))
    return {h: float(np.mean(v)) for h, v in out.items()}


@pytest.fixture(scope="module")
def network() -> tuple[np.ndarray, np.ndarray]:
    return _network()


@pytest.fixture(scope="module")
def fitted(network: tuple[np.ndarray, np.ndarray]) -> TrafficModel:
    speeds, adj = network
    return TrafficModel.fit(speeds[:4 * SPD], adj)


def test_traffic_model_beats_last_value_and_historical_average(network, fitted) -> None:
    speeds, _ = network
    train = 4 * SPD
    model_mae = _scores(fitted, speeds, train)
    slot = np.arange(len(speeds)) % SPD
    ha = np.array([speeds[:train][slot[:train] == s].mean(axis=0) for s in range(SPD)])
    for h in TrafficModel.HORIZONS:
        k = h // 5
        origins = np.arange(train, len(speeds) - 12, 3)
        last = np.abs(speeds[origins] - speeds[origins + k]).mean()
        hist = np.abs(ha[slot[origins + k]] - speeds[origins + k]).mean()
        assert model_mae[h] < 0.9 * min(last, hist), (h, model_mae[h], last, hist)


def test_neighbours_through_the_adjacency_help(network, fitted) -> None:
    speeds, adj = network
    alone = TrafficModel.fit(speeds[:4 * SPD], np.eye(len(adj)))  # no neighbours
    with_nb, without = _scores(fitted, speeds, 4 * SPD), _scores(alone, speeds, 4 * SPD)
    assert with_nb[15] < 0.85 * without[15]


def test_predict_shapes_and_congestion_probability(network, fitted) -> None:
    speeds, _ = network
    o = 4 * SPD + 100
    recent = speeds[o - 20:o + 1]
    pred = fitted.predict(recent, slot=o % SPD)
    assert set(pred) == {15, 30, 60}
    for mean, std in pred.values():
        assert mean.shape == std.shape == (8,)
        assert np.isfinite(mean).all() and (std > 0).all()
    assert (pred[60][1].mean() > pred[15][1].mean())  # further ahead, more uncertain
    low = fitted.congestion_probability(recent, slot=o % SPD, threshold=30.0)
    high = fitted.congestion_probability(recent, slot=o % SPD, threshold=np.full(8, 50.0))
    from scipy.stats import norm

    for h, (mean, std) in pred.items():
        assert ((low[h] >= 0) & (low[h] <= 1)).all() and (high[h] >= low[h]).all()
        np.testing.assert_allclose(low[h], norm.cdf((30.0 - mean) / std))


def test_congestion_probability_beats_climatology(network, fitted) -> None:
    speeds, _ = network
    train, thr = 4 * SPD, 40.0
    base = (speeds[:train] < thr).mean()
    model_b, clim_b = [], []
    for o in range(train, len(speeds) - 12, 3):
        p = fitted.congestion_probability(speeds[o - 11:o + 1], slot=o % SPD, threshold=thr)[30]
        y = speeds[o + 6] < thr
        model_b.append(np.mean((p - y) ** 2))
        clim_b.append(np.mean((base - y) ** 2))
    assert 0 < base < 1
    assert np.mean(model_b) < 0.6 * np.mean(clim_b)


def test_save_load_round_trip_without_pickle(tmp_path, network, fitted) -> None:
    speeds, _ = network
    path = tmp_path / "traffic.npz"
    fitted.save(path)
    with np.load(path, allow_pickle=False) as z:  # only plain arrays inside
        assert {"settings", "coef", "profile", "w1"} <= set(z.files)
    again = TrafficModel.load(path)
    assert again.settings == fitted.settings and again.horizons == (15, 30, 60)
    o = 4 * SPD + 50
    a = fitted.predict(speeds[o - 11:o + 1], slot=o % SPD)
    b = again.predict(speeds[o - 11:o + 1], slot=o % SPD)
    for h in a:
        np.testing.assert_array_equal(a[h][0], b[h][0])
        np.testing.assert_array_equal(a[h][1], b[h][1])


def test_missing_speeds_are_tolerated(network) -> None:
    speeds, adj = network
    rng = np.random.default_rng(9)
    holes = speeds[:3 * SPD].copy()
    holes[rng.random(holes.shape) < 0.05] = np.nan
    holes[:, 2] = np.nan  # a sensor that never reported
    model = TrafficModel.fit(holes, adj, start_slot=0, horizons=(15, 30))
    recent = speeds[3 * SPD - 12:3 * SPD].copy()
    recent[-1, :4] = np.nan
    pred = model.predict(recent, slot=(3 * SPD - 1) % SPD)
    assert set(pred) == {15, 30}
    for mean, std in pred.values():
        assert np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()


def test_start_slot_aligns_the_daily_profile(network) -> None:
    speeds, adj = network
    shift = 100  # the same data, but the first row is at slot 100
    a = TrafficModel.fit(speeds[shift:shift + 3 * SPD], adj, start_slot=shift, horizons=(15,), robust=0)
    assert a.profile.shape == (SPD, 8)
    # the profile learned at slot s is the data's slot s: the evening rush (slot 210) is the slowest
    assert 200 <= int(np.argmin(a.profile.mean(axis=1))) <= 220


def test_log1p_transform_and_traffic_errors(network) -> None:
    speeds, adj = network
    m = TrafficModel.fit(speeds[:2 * SPD], adj, horizons=(15,), transform="log1p")
    mean, _ = m.predict(speeds[2 * SPD - 12:2 * SPD], slot=(2 * SPD - 1) % SPD)[15]
    assert np.isfinite(mean).all() and (mean > 0).all()
    with pytest.raises(ValueError, match="adjacency must be 8 x 8"):
        TrafficModel.fit(speeds, adj[:5, :5])
    with pytest.raises(ValueError, match="multiples of the step"):
        TrafficModel.fit(speeds, adj, horizons=(12,))
    with pytest.raises(ValueError, match="too little history"):
        TrafficModel.fit(speeds[:30], adj)
    with pytest.raises(ValueError, match="unknown transform"):
        TrafficModel.fit(speeds, adj, transform="sqrt")
    with pytest.raises(ValueError, match="at least the last 12"):
        m.predict(speeds[:5], slot=4)
    with pytest.raises(ValueError, match="slot must be between 0 and 287"):
        m.predict(speeds[:12], slot=288)
