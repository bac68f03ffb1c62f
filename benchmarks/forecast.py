"""Benchmark of the sensing module's forecasting (``cityai.sensing.forecast``), beside simple peers run alike.

In one run (data from ``../shared/data``, or ``--data DIR``; a message and exit status 0 when absent):

1. **Los-loop traffic speed** (``los-loop``: 207 loop detectors, 2,016 five-minute steps from 2012-03-01
   00:00, and their adjacency). The first 80 % of the time (1,612 steps, ~5.6 days) trains, the last 20 %
   tests: every test origin ``t`` (last known step) from the end of training to 12 steps before the end, so
   the 15-, 30- and 60-minute targets all fall in the test part and every method and horizon is scored on the
   same origins. MAE, RMSE, MAPE of :class:`TrafficModel` beside the *historical average* (the mean of the
   training speeds per sensor and 5-minute time-of-day slot, over the 5-6 training days of each slot,
   weekend included: the file has no day-of-week information worth the name with one week) and *last value*
   (persistence). Congestion ("speed < ``--threshold``", default 40; the speeds are in mph, as PeMS
   publishes them): Brier score of ``congestion_probability`` beside climatology (the training share of
   congested cases, for every case) and persistence (1 if the last speed was below the threshold, else 0),
   and ROC AUC. Then ``forecast_series`` on ``--los-series`` sensors (its own choice per series, from the
   same history) at every ``--los-every``-th test origin, beside TrafficModel on the same cases.
2. **M4 Hourly and Weekly** (``m4``: 414 hourly series, horizon 48, season 24; 359 weekly series, horizon
   13, season 1; the competition's test files are not in the data, so the last horizon of each *training*
   series is held back as the test): sMAPE and MASE (the M4 definitions) and OWA of the automatic choice of
   ``forecast_series`` (through ``forecast_array``, the same selection on a regular array) beside Naive2
   (naive on the series seasonally adjusted by classical multiplicative decomposition when the 90 %
   autocorrelation test says it is seasonal: the M4 benchmark), computed here; wall time with
   ``--workers`` processes and CPU seconds per series; how often each method was chosen.
3. **Speed** of ``forecast_series`` on a two-week five-minute series (4,032 points, synthetic, seeded)
   with a 60-minute horizon: the first call in a fresh process (imports included) and the median of 3.

    python benchmarks/forecast.py [--data ../shared/data] [--series N] [--workers 2] [--markdown FILE]

A full run took about 25 minutes on 2 cores shared with other work (M4 Hourly 13 of them, Weekly 3, the
per-series Los-loop comparison 6; M4 needs about 1.5 CPU-seconds per hourly series);
``--series 16 --los-series 2 --los-every 100`` is a check of under a minute.
"""

from __future__ import annotations

import argparse
import math
import os
import platform as _platform
import statistics
import sys
import time
from collections import Counter
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

M4_SETS = {"Hourly": (48, 24), "Weekly": (13, 1)}  # horizon, season (MASE and the decomposition)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ Los-loop

def read_los(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    speeds = np.loadtxt(folder / "los_speed.csv", delimiter=",", skiprows=1)
    adjacency = np.loadtxt(folder / "los_adj.csv", delimiter=",")
    return speeds, adjacency


def errors(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    e = pred - truth
    return {"mae": float(np.abs(e).mean()), "rmse": float(np.sqrt((e ** 2).mean())),
            "mape": float(np.mean(np.abs(e) / np.abs(truth)) * 100)}


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC by ranks (ties get their mean rank)."""
    from scipy.stats import rankdata

    score, label = np.ravel(score), np.ravel(label).astype(bool)
    pos, neg = int(label.sum()), int((~label).sum())
    if not pos or not neg:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def bench_los(folder: Path, args: argparse.Namespace) -> dict:
    from datetime import datetime, timedelta, timezone

    from scipy.special import ndtr, ndtri

    from cityai.sensing.forecast import TrafficModel, forecast_series

    speeds, adj = read_los(folder)
    t_len, n = speeds.shape
    spd = 288
    train = int(t_len * 0.8)
    log(f"Los-loop: {t_len} steps x {n} sensors, training on {train}")
    t0 = time.perf_counter()
    c0 = time.process_time()
    model = TrafficModel.fit(speeds[:train], adj, step_minutes=5, start_slot=0)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    horizons = model.horizons
    kmax = max(horizons) // 5
    origins = np.arange(train - 1, t_len - 1 - kmax)
    slots = np.arange(t_len) % spd
    ha = np.full((spd, n), np.nan)
    for s in range(spd):
        ha[s] = speeds[:train][slots[:train] == s].mean(axis=0)
    days_per_slot = [int((slots[:train] == s).sum()) for s in (0, spd - 1)]
    thr = args.threshold
    base_rate = float((speeds[:train] < thr).mean())
    pred = {h: [] for h in horizons}
    sd = {h: [] for h in horizons}
    t1 = time.perf_counter()
    for o in origins:
        out = model.predict(speeds[o - model.lags + 1:o + 1], slot=int(slots[o]))
        for h in horizons:
            pred[h].append(out[h][0])
            sd[h].append(out[h][1])
    predict_ms = (time.perf_counter() - t1) / len(origins) * 1000
    rows = {}
    for h in horizons:
        k = h // 5
        truth = speeds[origins + k]
        mean, std = np.array(pred[h]), np.array(sd[h])
        congested = truth < thr
        prob = ndtr((thr - mean) / std)
        last = speeds[origins]
        inside = np.abs(truth - mean) <= ndtri(0.9) * std
        rows[h] = {
            "model": errors(mean, truth), "ha": errors(ha[slots[origins + k]], truth),
            "last": errors(last, truth),
            "brier": float(np.mean((prob - congested) ** 2)),
            "brier_clim": float(np.mean((base_rate - congested) ** 2)),
            "brier_last": float(np.mean((last < thr) != congested)),
            "auc": auc(prob, congested), "auc_last": auc(-last, congested),
            "share": float(congested.mean()), "cover80": float(inside.mean()),
        }
    result = {"steps": t_len, "sensors": n, "train": train, "test_origins": len(origins), "fit_s": fit_s,
              "fit_cpu": fit_cpu, "predict_ms": predict_ms, "rows": rows, "base_rate": base_rate,
              "threshold": thr, "days_per_slot": days_per_slot}
    if args.los_series > 0:
        rng = np.random.default_rng(7)
        sensors = np.sort(rng.choice(n, size=min(args.los_series, n), replace=False))
        cases = origins[::args.los_every]
        t_start = datetime(2012, 3, 1, tzinfo=timezone.utc)
        fs_err = {h: [] for h in horizons}
        tm_err = {h: [] for h in horizons}
        chosen: Counter = Counter()
        seconds = []
        for o in cases:
            times = [t_start + timedelta(minutes=5 * i) for i in range(o + 1)]
            out = model.predict(speeds[o - model.lags + 1:o + 1], slot=int(slots[o]))
            for s in sensors:
                ts = time.perf_counter()
                f = forecast_series(times, speeds[:o + 1, s], max(horizons) * 60, season_seconds=86400)
                seconds.append(time.perf_counter() - ts)
                chosen[f.method] += 1
                for h in horizons:
                    truth = speeds[o + h // 5, s]
                    fs_err[h].append(f.points[h // 5 - 1]["value"] - truth)
                    tm_err[h].append(out[h][0][s] - truth)
        result["series"] = {
            "sensors": len(sensors), "origins": len(cases), "chosen": dict(chosen),
            "mean_s": statistics.mean(seconds),
            "mae": {h: (float(np.mean(np.abs(fs_err[h]))), float(np.mean(np.abs(tm_err[h]))))
                    for h in horizons}}
    return result


# ------------------------------------------------------------------ M4

def read_m4(path: Path) -> list[tuple[str, np.ndarray]]:
    out = []
    with open(path, encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            cells = [c.strip().strip('"') for c in line.rstrip("\n").split(",")]
            values = np.array([float(c) for c in cells[1:] if c != ""])
            out.append((cells[0], values))
    return out


def seasonality_test(y: np.ndarray, m: int) -> bool:
    """M4's 90 % autocorrelation test (as in the competition's R code): seasonal when
    |acf(m)| > 1.645 * sqrt((1 + 2 * sum_{k<m} acf(k)^2) / n); needs at least 3 seasons."""
    if m < 2 or len(y) < 3 * m:
        return False
    x = y - y.mean()
    denom = float((x ** 2).sum())
    if denom == 0:
        return False
    acf = np.array([float((x[k:] * x[:-k]).sum()) / denom for k in range(1, m + 1)])
    limit = 1.645 * math.sqrt((1 + 2 * float((acf[:m - 1] ** 2).sum())) / len(y))
    return abs(acf[m - 1]) > limit


def naive2(y: np.ndarray, h: int, m: int) -> np.ndarray:
    """M4's Naive2: classical multiplicative decomposition (centred moving average, seasonal indices
    normalised to mean 1) when seasonal, naive on the adjusted series, reseasonalised."""
    n = len(y)
    if not seasonality_test(y, m):
        return np.repeat(y[-1], h)
    if m % 2 == 0:
        kernel = np.r_[0.5, np.ones(m - 1), 0.5] / m
    else:
        kernel = np.ones(m) / m
    trend = np.full(n, np.nan)
    half = len(kernel) // 2
    trend[half:n - half] = np.convolve(y, kernel, mode="valid")
    ratio = y / trend
    idx = np.arange(n) % m
    figure = np.array([np.nanmean(ratio[idx == j]) for j in range(m)])
    figure = figure / figure.mean()
    seasonal = figure[idx]
    last = y[-1] / seasonal[-1]
    return last * figure[(n + np.arange(h)) % m]


def smape(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(200 * np.abs(truth - pred) / (np.abs(truth) + np.abs(pred))))


def mase(train: np.ndarray, truth: np.ndarray, pred: np.ndarray, m: int) -> float:
    scale = float(np.mean(np.abs(train[m:] - train[:-m])))
    return float(np.mean(np.abs(truth - pred)) / scale) if scale > 0 else float("nan")


def _m4_one(job: tuple[str, np.ndarray, int, int]) -> dict:
    from cityai.sensing.forecast import forecast_array

    sid, y, h, m = job
    train, truth = y[:-h], y[-h:]
    c0 = time.process_time()
    f = forecast_array(train, h, season_length=m)
    cpu = time.process_time() - c0
    n2 = naive2(train, h, m)
    return {"id": sid, "method": f.method, "cpu": cpu, "smape": smape(truth, f.mean),
            "mase": mase(train, truth, f.mean, m), "smape_n2": smape(truth, n2),
            "mase_n2": mase(train, truth, n2, m)}


def _warm(_: int) -> None:
    from cityai.sensing.forecast import forecast_array

    forecast_array(np.sin(np.arange(200) / 3.0) + 2, 5, season_length=24)


def bench_m4(folder: Path, args: argparse.Namespace) -> dict:
    out = {}
    ctx = get_context("fork" if sys.platform != "win32" else "spawn")
    with ctx.Pool(args.workers) as pool:
        pool.map(_warm, range(args.workers))  # import statsforecast in each worker, outside the timings
        for name, (h, m) in M4_SETS.items():
            series = read_m4(folder / f"{name}-train.csv")
            if args.series:
                rng = np.random.default_rng(11)
                pick = np.sort(rng.choice(len(series), size=min(args.series, len(series)), replace=False))
                series = [series[i] for i in pick]
            log(f"M4 {name}: {len(series)} series, horizon {h}, season {m} ...")
            t0 = time.perf_counter()
            rows = list(pool.imap_unordered(_m4_one, [(sid, y, h, m) for sid, y in series], chunksize=2))
            wall = time.perf_counter() - t0
            r = {k: float(np.mean([x[k] for x in rows])) for k in ("smape", "mase", "smape_n2", "mase_n2")}
            r["owa"] = 0.5 * (r["smape"] / r["smape_n2"] + r["mase"] / r["mase_n2"])
            r.update(n=len(rows), wall=wall, cpu=float(np.mean([x["cpu"] for x in rows])),
                     cpu_max=float(np.max([x["cpu"] for x in rows])),
                     chosen=dict(Counter(x["method"] for x in rows).most_common()), horizon=h, season=m)
            out[name] = r
            log(f"  {wall:.0f} s")
    return out


# ------------------------------------------------------------------ speed

def bench_speed() -> dict:
    import subprocess

    code = ("import time, numpy as np\n"
            "from datetime import datetime, timedelta, timezone\n"
            "t0 = time.perf_counter()\n"
            "from cityai.sensing.forecast import forecast_series\n"
            "rng = np.random.default_rng(3); n = 4032; i = np.arange(n)\n"
            "y = 40 + 12 * np.sin(2 * np.pi * i / 288) + np.cumsum(rng.normal(0, 0.4, n))\n"
            "y += rng.normal(0, 2, n)\n"
            "start = datetime(2025, 3, 3, tzinfo=timezone.utc)\n"
            "times = [start + timedelta(minutes=5 * k) for k in range(n)]\n"
            "f = forecast_series(times, y, 3600); first = time.perf_counter() - t0\n"
            "runs = []\n"
            "for _ in range(3):\n"
            "    t = time.perf_counter(); f = forecast_series(times, y, 3600)\n"
            "    runs.append(time.perf_counter() - t)\n"
            "print(first, sorted(runs)[1], f.method)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    first, median, method = out.stdout.split()
    return {"first": float(first), "median": float(median), "method": method}


# ------------------------------------------------------------------ report

def markdown(r: dict) -> str:
    md = [f"Run: {r['when']}, {r['machine']}.", ""]
    if r.get("speed"):
        s = r["speed"]
        md += [f"`forecast_series` on a 5-minute series of two weeks (4,032 points), 60-minute horizon: "
               f"**{s['median']:.2f} s** a call (median of 3; chosen: {s['method']}), {s['first']:.1f} s "
               f"for the first call of a fresh process (importing statsforecast included).", ""]
    los = r.get("los")
    if los:
        md += [f"**Los-loop** ({los['sensors']} sensors, {los['steps']:,} five-minute steps; trained on the "
               f"first {los['train']:,} steps, scored at {los['test_origins']} test origins, every horizon "
               f"on the same origins). TrafficModel fit: {los['fit_s']:.1f} s wall ({los['fit_cpu']:.1f} s "
               f"CPU); predict: {los['predict_ms']:.1f} ms for all sensors and horizons.", "",
               "| horizon | TrafficModel MAE / RMSE / MAPE | historical average | last value |",
               "|---|---|---|---|"]
        for h, row in los["rows"].items():
            cells = [f"{row[k]['mae']:.2f} / {row[k]['rmse']:.2f} / {row[k]['mape']:.1f} %"
                     for k in ("model", "ha", "last")]
            cells[0] = f"**{cells[0]}**"
            md.append(f"| {h} min | " + " | ".join(cells) + " |")
        md += ["", f"Congestion = speed < {los['threshold']:g} mph (training base rate "
               f"{los['base_rate']:.1%}):", "",
               "| horizon | congested share (test) | Brier: TrafficModel | climatology | persistence (0/1) | "
               "AUC: TrafficModel | last speed | 80 % interval coverage |",
               "|---|---|---|---|---|---|---|---|"]
        for h, row in los["rows"].items():
            md.append(f"| {h} min | {row['share']:.1%} | **{row['brier']:.4f}** | {row['brier_clim']:.4f} | "
                      f"{row['brier_last']:.4f} | **{row['auc']:.3f}** | {row['auc_last']:.3f} | "
                      f"{row['cover80']:.1%} |")
        if los.get("series"):
            s = los["series"]
            chosen = ", ".join(f"{k} {v}" for k, v in sorted(s["chosen"].items(), key=lambda kv: -kv[1]))
            md += ["", f"Per-series `forecast_series` on {s['sensors']} sensors x {s['origins']} test "
                   f"origins (each from its own history only; chosen: {chosen}; {s['mean_s']:.2f} s a call), "
                   "MAE beside TrafficModel on the same cases:", "",
                   "| horizon | forecast_series | TrafficModel |", "|---|---|---|"]
            for h, (a, b) in s["mae"].items():
                md.append(f"| {h} min | {a:.2f} | {b:.2f} |")
    m4 = r.get("m4")
    if m4:
        md += ["", "**M4** (the last horizon of each training series held back as the test; means over "
               "series; OWA = mean of the sMAPE and MASE ratios to Naive2):", "",
               "| set | series | horizon / season | forecast_series sMAPE | MASE | Naive2 sMAPE | MASE | "
               "OWA | wall (workers) | CPU s per series (max) | chosen |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, x in m4.items():
            chosen = ", ".join(f"{k} {v}" for k, v in x["chosen"].items())
            md.append(f"| {name} | {x['n']} | {x['horizon']} / {x['season']} | **{x['smape']:.3f}** | "
                      f"**{x['mase']:.3f}** | {x['smape_n2']:.3f} | {x['mase_n2']:.3f} | "
                      f"**{x['owa']:.3f}** | {x['wall']:.0f} s ({r['workers']}) | {x['cpu']:.2f} "
                      f"({x['cpu_max']:.1f}) | {chosen} |")
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--series", type=int, default=0, help="M4: a seeded sample of N series per set (0 = all)")
    ap.add_argument("--workers", type=int, default=2, help="M4: processes")
    ap.add_argument("--threshold", type=float, default=40.0, help="Los-loop congestion threshold (mph)")
    ap.add_argument("--los-series", type=int, default=40, help="sensors for per-series forecasts (0 = none)")
    ap.add_argument("--los-every", type=int, default=40, help="every N-th test origin for those")
    ap.add_argument("--only", default="speed,los,m4")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)
    data = args.data
    los_dir, m4_dir = data / "los-loop", data / "m4"
    if not (los_dir / "los_speed.csv").is_file() and not (m4_dir / "Hourly-train.csv").is_file():
        print(f"no forecasting data under {data} (los-loop/, m4/): nothing to measure; pass --data DIR")
        return 0
    import scipy
    import statsforecast

    report: dict = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "workers": args.workers,
                    "machine": f"{os.cpu_count()} CPUs ({_platform.processor() or _platform.machine()}), "
                               f"Python {_platform.python_version()}, NumPy {np.__version__}, "
                               f"SciPy {scipy.__version__}, statsforecast {statsforecast.__version__}"}
    only = {x.strip() for x in args.only.split(",")}
    if "speed" in only:
        log("speed ...")
        report["speed"] = bench_speed()
    if "los" in only and (los_dir / "los_speed.csv").is_file():
        report["los"] = bench_los(los_dir, args)
    if "m4" in only and (m4_dir / "Hourly-train.csv").is_file():
        report["m4"] = bench_m4(m4_dir, args)
    text = markdown(report)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
