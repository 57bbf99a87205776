"""The forecasting core on the sample data: accuracy against the seasonal-naive baseline, and speed.

python bench/forecast.py [--candidates] [--out bench/results/forecast.md]

- Per vegetable of data/sample_sales.csv (through the pipeline, as the service builds gold): the
  backtest errors (one-step and twelve-step MAE, sMAPE, MASE) of the model and of the baseline,
  with and without outlier removal.
- The spikes: errors of the forecasts made after each planted spike, kept or removed, and next
  year's forecast of the spike's calendar month.
- Interval coverage: how many of the held-out months fall inside the 80 % and 95 % intervals of a
  forecast made 12 months before them.
- Time: import, first call and all 12 vegetables in a new process (cold), all 12 again in the
  same process (warm, the cache cleared), and all 12 from the cache.
- --candidates: the same backtest with other models (statsforecast forms, AutoARIMA, AutoTheta),
  for the choice of model; adds about 6 minutes.
"""

import argparse
import csv
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from vegsales import forecast  # noqa: E402
from vegsales.pipeline import gold_from_bronze  # noqa: E402
from vegsales.silver import FeedRules, clean_records  # noqa: E402

SAMPLE = REPO / "data" / "sample_sales.csv"
WARM_RUNS = 5
COLD_RUNS = 3

COLD_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from vegsales import forecast
t1 = time.perf_counter()
forecast.preload()
t2 = time.perf_counter()
months = json.loads(sys.stdin.read())
names = sorted(months)
forecast.forecast_vegetable(months[names[0]])
t3 = time.perf_counter()
forecast.clear_forecast_cache()
c = time.process_time()
for name in names:
    forecast.forecast_vegetable(months[name])
t4 = time.perf_counter()
print(json.dumps({"import_module": t1 - t0, "import_library": t2 - t1, "first_call": t3 - t2,
                  "all_12": t4 - t3, "all_12_cpu": time.process_time() - c}))
"""


def sample_months() -> dict[str, list[tuple[str, float, bool]]]:
    """The sample data's gold table, per vegetable, as (year_month, kilos, is_outlier)."""
    with SAMPLE.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    rules = FeedRules()
    accepted, _ = clean_records(rows, rules)
    by_vegetable: dict[str, list[tuple[str, float, bool]]] = defaultdict(list)
    for row in gold_from_bronze(accepted.rows, rules.vocabulary):
        by_vegetable[row.vegetable].append((row.year_month, row.kilo_sold, row.is_outlier))
    return dict(sorted(by_vegetable.items()))


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def all_twelve(months: dict[str, list[tuple[str, float, bool]]], remove_outliers: bool) -> dict[str, forecast.Forecast]:
    return {name: forecast.forecast_vegetable(series, 12, remove_outliers) for name, series in months.items()}


def cold_runs(months: dict[str, list[tuple[str, float, bool]]]) -> list[dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    runs = []
    for _ in range(COLD_RUNS):
        done = subprocess.run(
            [sys.executable, "-c", COLD_SCRIPT],
            input=json.dumps(months),
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        runs.append(json.loads(done.stdout))
    return runs


def warm_runs(months: dict[str, list[tuple[str, float, bool]]]) -> dict[str, list[tuple[float, float]]]:
    all_twelve(months, False)  # warm up: the library is imported, the first fit done
    runs: dict[str, list[tuple[float, float]]] = {"kept": [], "removed": [], "cached": []}
    for _ in range(WARM_RUNS):
        for label, remove in (("kept", False), ("removed", True)):
            forecast.clear_forecast_cache()
            runs[label].append(timed(lambda remove=remove: all_twelve(months, remove)))
        runs["cached"].append(timed(lambda: all_twelve(months, True)))
    return runs


def http_cached(runs: int = 50) -> list[float]:
    """Seconds of GET /get_forecast?vegetable=carrot answered from the cache, through the whole app."""
    import tempfile

    from fastapi.testclient import TestClient

    from vegsales.api import create_app
    from vegsales.storage.sqlite import SqliteStore

    with open(REPO / "data" / "sample_sales.csv", newline="", encoding="utf-8") as file:
        records = list(csv.DictReader(file))
    with tempfile.TemporaryDirectory() as folder, TestClient(create_app(SqliteStore(f"{folder}/s.db"))) as client:
        client.post("/post_sales", json=records)
        assert client.get("/get_forecast?vegetable=carrot").status_code == 200  # fitted once
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            assert client.get("/get_forecast?vegetable=carrot").status_code == 200
            times.append(time.perf_counter() - start)
    return times


def error_cells(errors: forecast.Errors) -> str:
    return f"{errors.mae:,.0f} | {errors.smape:.2f} | {errors.mase:.3f}"


def per_vegetable_table(results: dict[bool, dict[str, forecast.Forecast]], run: str) -> list[str]:
    lines = [
        "| vegetable | outliers | model MAE | sMAPE % | MASE | naive MAE | sMAPE % | MASE | lower MAE |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in results[False]:
        for remove in (False, True):
            block = getattr(results[remove][name].backtest, run)
            better = "model" if block.model.mae < block.seasonal_naive.mae else "naive"
            lines.append(
                f"| {name} | {'removed' if remove else 'kept'} | {error_cells(block.model)} | "
                f"{error_cells(block.seasonal_naive)} | {better} |"
            )
    return lines


def wins_line(results: dict[bool, dict[str, forecast.Forecast]]) -> list[str]:
    lines = []
    for remove in (False, True):
        parts = []
        for run in ("one_step", "twelve_step"):
            blocks = [getattr(f.backtest, run) for f in results[remove].values()]
            wins = sum(b.model.mae < b.seasonal_naive.mae for b in blocks)
            model_mase = statistics.median(b.model.mase for b in blocks)
            naive_mase = statistics.median(b.seasonal_naive.mase for b in blocks)
            model_smape = statistics.median(b.model.smape for b in blocks)
            naive_smape = statistics.median(b.seasonal_naive.smape for b in blocks)
            parts.append(
                f"{run.replace('_', '-')}: model better on {wins}/12, median MASE {model_mase:.3f} vs "
                f"{naive_mase:.3f}, median sMAPE {model_smape:.2f} % vs {naive_smape:.2f} %"
            )
        lines.append(f"- outliers {'removed' if remove else 'kept'}: " + "; ".join(parts))
    return lines


def after_spike_rows(months: dict[str, list[tuple[str, float, bool]]]) -> list[str]:
    """One-step forecasts whose training window holds the spike (made after it), kept or removed."""
    lines = [
        "| vegetable | spike | one-step forecasts made after it | MAE kept | MAE removed | sMAPE kept | sMAPE removed "
        "| 12-step MAE kept / removed | next year's forecast of that month: kept / removed (other years' actual) |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, series in months.items():
        spikes = [month for month, _, is_outlier in series if is_outlier]
        if not spikes:
            continue
        spike = spikes[0]
        actual = [kilos for _, kilos, _ in series]
        origins = [i for i in range(len(series) - 12, len(series)) if series[i - 1][0] >= spike]
        errors: dict[bool, list[float]] = {False: [], True: []}
        smapes: dict[bool, list[float]] = {False: [], True: []}
        for remove in (False, True):
            for origin in origins:
                predicted = forecast.forecast_vegetable(series[:origin], 1, remove).forecast[0].kilo_sold
                errors[remove].append(abs(actual[origin] - predicted))
                smapes[remove].append(200 * abs(actual[origin] - predicted) / (actual[origin] + predicted))
        twelve = {
            remove: forecast.forecast_vegetable(series, 12, remove).backtest.twelve_step for remove in (False, True)
        }
        twelve_cell = (
            f"{twelve[False].model.mae:,.0f} / {twelve[True].model.mae:,.0f}"
            if series[len(series) - 13][0] >= spike
            else "made before the spike"
        )
        calendar_month = spike[5:]
        final = {
            remove: next(
                m.kilo_sold
                for m in forecast.forecast_vegetable(series, 12, remove).forecast
                if m.year_month[5:] == calendar_month
            )
            for remove in (False, True)
        }
        others = [f"{kilos:,.0f}" for month, kilos, _ in series if month[5:] == calendar_month and month != spike]
        lines.append(
            f"| {name} | {spike} ({dict((m, k) for m, k, _ in series)[spike]:,.0f} kg) | {len(origins)} | "
            f"{np.mean(errors[False]):,.0f} | {np.mean(errors[True]):,.0f} | "
            f"{np.mean(smapes[False]):.2f} | {np.mean(smapes[True]):.2f} | {twelve_cell} | "
            f"{final[False]:,.0f} / {final[True]:,.0f} ({', '.join(others)}) |"
        )
    return lines


def coverage_lines(months: dict[str, list[tuple[str, float, bool]]]) -> list[str]:
    lines = []
    for remove in (False, True):
        inside_80 = inside_95 = total = 0
        for series in months.values():
            held_out = series[-12:]
            answer = forecast.forecast_vegetable(series[:-12], 12, remove)
            for (_, kilos, _), month in zip(held_out, answer.forecast, strict=True):
                inside_80 += month.lower_80 <= kilos <= month.upper_80
                inside_95 += month.lower_95 <= kilos <= month.upper_95
                total += 1
        lines.append(
            f"- outliers {'removed' if remove else 'kept'}: {inside_80}/{total} held-out months inside the 80 % "
            f"interval ({100 * inside_80 / total:.0f} %), {inside_95}/{total} inside the 95 % "
            f"({100 * inside_95 / total:.0f} %)"
        )
    return lines


def candidate_fits() -> dict[str, Callable[[np.ndarray, int, bool], object]]:
    """Other models, wrapped like forecast._fit (every backtest window here holds 36+ months)."""
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

    def statsforecast_fit(make: Callable[[], object], name: str) -> Callable[[np.ndarray, int, bool], object]:
        def fit(values: np.ndarray, horizon: int, intervals: bool) -> object:
            levels = [80, 95] if intervals else None
            prediction = make().forecast(values, horizon, level=levels)  # type: ignore[attr-defined]
            fitted = forecast._clipped(name, prediction, horizon, intervals)
            assert fitted is not None
            return fitted

        return fit

    return {
        "ETS(M,Ad,M) (the choice)": forecast._fit,
        "AutoETS, all 15 forms (ZZZ)": statsforecast_fit(lambda: AutoETS(season_length=12, model="ZZZ"), "ZZZ"),
        "AutoETS, additive (A,Z,A)": statsforecast_fit(lambda: AutoETS(season_length=12, model="AZA"), "AZA"),
        "ETS(A,Ad,A)": statsforecast_fit(lambda: AutoETS(season_length=12, model="AAA", damped=True), "AAdA"),
        "ETS(A,N,A)": statsforecast_fit(lambda: AutoETS(season_length=12, model="ANA"), "ANA"),
        "ETS(M,N,M)": statsforecast_fit(lambda: AutoETS(season_length=12, model="MNM"), "MNM"),
        "AutoARIMA season 12": statsforecast_fit(lambda: AutoARIMA(season_length=12), "AutoARIMA"),
        "AutoTheta season 12": statsforecast_fit(lambda: AutoTheta(season_length=12), "AutoTheta"),
    }


def candidate_lines(months: dict[str, list[tuple[str, float, bool]]]) -> list[str]:
    lines = [
        "| model | outliers | fit time, 12 vegetables (wall / CPU s) | one-step: better than naive | median MASE "
        "| median sMAPE % | twelve-step: better than naive | median MASE | median sMAPE % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    calendars = {name: forecast._calendar(tuple(sorted(series))) for name, series in months.items()}
    naive_cells = {}
    for label, fit in candidate_fits().items():
        fit(calendars["carrot"][1], 12, True)  # a first fit outside the clock
        for remove in (False, True):
            backtests = {}

            def run(fit=fit, remove=remove, backtests=backtests) -> None:
                for name, (_, actual, tagged) in calendars.items():
                    backtests[name] = forecast._backtest(actual, tagged, remove, fit)  # type: ignore[arg-type]
                    fit(forecast._training_values(actual, tagged, remove), 12, True)

            wall, cpu = timed(run)
            cells = [f"{wall:.2f} / {cpu:.2f}"]
            for block in ("one_step", "twelve_step"):
                runs = [getattr(b, block) for b in backtests.values()]
                wins = sum(r.model.mae < r.seasonal_naive.mae for r in runs)
                cells += [
                    f"{wins}/12",
                    f"{statistics.median(r.model.mase for r in runs):.3f}",
                    f"{statistics.median(r.model.smape for r in runs):.2f}",
                ]
                naive_cells[(remove, block)] = (
                    f"{statistics.median(r.seasonal_naive.mase for r in runs):.3f}",
                    f"{statistics.median(r.seasonal_naive.smape for r in runs):.2f}",
                )
            lines.append(f"| {label} | {'removed' if remove else 'kept'} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    for remove in (False, True):
        one, twelve = naive_cells[(remove, "one_step")], naive_cells[(remove, "twelve_step")]
        lines.append(
            f"| seasonal naive (baseline) | {'removed' if remove else 'kept'} | - | - | {one[0]} | {one[1]} | - | "
            f"{twelve[0]} | {twelve[1]} |"
        )
    return lines


def statsmodels_line(months: dict[str, list[tuple[str, float, bool]]]) -> str:
    """statsmodels' ETSModel is far too slow for the full backtest here: time one fit with intervals."""
    import warnings

    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    values = pd.Series(
        [kilos for _, kilos, _ in months["cabbage"][:36]], index=pd.date_range("2020-01-01", periods=36, freq="MS")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall, cpu = timed(
            lambda: (
                ETSModel(values, error="add", trend="add", damped_trend=True, seasonal="add", seasonal_periods=12)
                .fit(disp=False)
                .get_prediction(start=36, end=47)
                .summary_frame(alpha=0.2)
            )
        )
    return (
        f"- statsmodels ETSModel(A,Ad,A), one 36-month fit with intervals: {wall:.2f} s wall, {cpu:.2f} s CPU, so "
        f"about {13 * 12 * cpu:.0f} s of CPU for the 156 fits of 12 vegetables (not run)."
    )


def seconds(runs: list[tuple[float, float]], unit: str = "s") -> str:
    scale = {"s": 1.0, "ms": 1000.0}[unit]
    walls = [wall * scale for wall, _ in runs]
    cpus = [cpu * scale for _, cpu in runs]
    return (
        f"wall min {min(walls):.2f} {unit}, median {statistics.median(walls):.2f} {unit}; "
        f"CPU min {min(cpus):.2f} {unit}, median {statistics.median(cpus):.2f} {unit}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", action="store_true", help="also backtest the other candidate models")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "forecast.md")
    args = parser.parse_args()

    months = sample_months()
    load_before = os.getloadavg()
    cold = cold_runs(months)
    warm = warm_runs(months)
    http = http_cached()
    forecast.clear_forecast_cache()
    results = {remove: all_twelve(months, remove) for remove in (False, True)}
    import statsforecast

    out = [
        "# Forecasting core: accuracy and speed on the sample data",
        "",
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node() or 'this machine'}, {os.cpu_count()} cores, "
        f"statsforecast {statsforecast.__version__}, Python {platform.python_version()}; "
        f"load average {load_before[0]:.1f} when the run started (other work shares the cores: "
        "CPU seconds are steadier than wall seconds).",
        "`python bench/forecast.py --candidates` (data/sample_sales.csv through the pipeline: 12 vegetables, "
        "48 months each, 2020-01 to 2023-12).",
        "",
        f"Model: `{next(iter(results[False].values())).model}` for every vegetable. Backtest over 2023: one-step "
        "= 12 fits (each on every month before the one forecast), twelve-step = 1 fit on 2020-2022; "
        "baseline = the same month last year; MASE scaled by the in-sample seasonal-naive MAE of 2020-2022 "
        "(tagged months replaced). Errors are against the recorded kilos, spikes included.",
        "",
        "## Is the model better than the seasonal-naive baseline?",
        "",
        *wins_line(results),
        "",
        "### One-step (12 origins)",
        "",
        *per_vegetable_table(results, "one_step"),
        "",
        "### Twelve-step (one origin, 2023 forecast from 2020-2022)",
        "",
        *per_vegetable_table(results, "twelve_step"),
        "",
        "## Does removing outliers help the forecasts made after a spike?",
        "",
        *after_spike_rows(months),
        "",
        "## Prediction intervals: coverage of the 2023 months, forecast from 2020-2022",
        "",
        *coverage_lines(months),
        "",
        "## Time",
        "",
        "Cold: a new process imports the module, then statsforecast, forecasts one vegetable, then all 12 "
        f"(cache cleared); {COLD_RUNS} runs.",
        "",
        "| | import vegsales.forecast | import statsforecast | first forecast (1 vegetable) | all 12 next | "
        "all 12 CPU |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| run {i + 1} | {run['import_module']:.2f} s | {run['import_library']:.2f} s | "
            f"{run['first_call']:.2f} s | {run['all_12']:.2f} s | {run['all_12_cpu']:.2f} s |"
            for i, run in enumerate(cold)
        ),
        "",
        f"Warm, all 12 vegetables with their backtests (156 fits), cache cleared, {WARM_RUNS} runs:",
        "",
        f"- outliers kept: {seconds(warm['kept'])}",
        f"- outliers removed: {seconds(warm['removed'])}",
        f"- all 12 from the cache: {seconds(warm['cached'], 'ms')}",
        f"- GET /get_forecast?vegetable=carrot from the cache, through the whole app (in-process client, "
        f"50 calls): median {statistics.median(http) * 1000:.2f} ms, max {max(http) * 1000:.2f} ms",
        "",
    ]
    if args.candidates:
        out += [
            "## Candidates: the same backtest, other models",
            "",
            "Fit time: the backtests (12 fits a vegetable) and the final fit with intervals of all 12 vegetables.",
            "",
            *candidate_lines(months),
            "",
            statsmodels_line(months),
            "",
        ]
    args.out.write_text("\n".join(out), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
