"""Monthly sales forecasts of one vegetable, with prediction intervals and a rolling-origin backtest.

The model is exponential smoothing (ETS) from statsforecast, fitted by maximum likelihood:

- 24 months or more: ETS(M,Ad,M) with a 12-month season. Multiplicative season and error because a
  vegetable's seasonal swing, and its noise, grow with its level; a damped trend because four
  years cannot tell a lasting trend from a slow drift, and an undamped one runs away over a
  24-month horizon. One fixed form rather than AutoETS's search over 15 forms: on the sample data
  it was the most accurate candidate, and the search cost 5-7x the time (docs/decisions/005-forecast-model.md).
  A series with a zero month (multiplicative forms are undefined there) gets ETS(A,Ad,A).
- 7 to 23 months: ETS(A,N,N) (simple exponential smoothing): no season can be estimated from less
  than two years, and a trend fitted on part of a season would extrapolate that part.
- 3 to 6 months: the naive forecast (the last month, intervals growing with the square root of the
  horizon): statsforecast's ETS needs at least 7 points for its two parameters.

statsforecast (with pandas, scipy and statsmodels) takes seconds to import, so it is imported on the
first fit, or by `preload()`, never when this module is imported. It compiles nothing at run time.
"""

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from .forecast_types import (
    Backtest,
    BacktestRun,
    Errors,
    Forecast,
    ForecastMonth,
    ForecastUnavailable,
    NotEnoughHistory,
    TrainedOn,
)

SEASON = 12
MIN_MONTHS = 3
MAX_TRAINING_MONTHS = 120
"""Only the last ten years are learned from: older months say little about the coming ones, and a
store may hold centuries (dates run from 1900), whose fit would take tens of seconds per vegetable."""
MIN_ETS_MONTHS = 7
MIN_SEASONAL_MONTHS = 24
MIN_BACKTEST_MONTHS = 24
BACKTEST_MONTHS = 12
MAX_HORIZON = 24
CACHE_SIZE = 256

Floats = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]
Months = tuple[tuple[str, float, bool], ...]

_YEAR_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, slots=True)
class _Fit:
    model: str
    mean: Floats
    bounds: dict[str, Floats]
    """'lo-80', 'hi-80', 'lo-95', 'hi-95' when asked for, clipped at zero like the mean."""


def forecast_vegetable(
    months: Sequence[tuple[str, float, bool]], horizon: int = 12, remove_outliers: bool = False
) -> Forecast:
    """Forecast one vegetable's next `horizon` months (1-24) from its (year_month, kilos, is_outlier) months.

    Months may come in any order. The calendar is filled from the first month to the last: a month
    without sales is zero kilos, not missing. With remove_outliers=True, each month tagged
    is_outlier is replaced, for training only, by the mean of the same calendar month in the other
    years that are not tagged (the season's own level, which keeps the calendar in place), or,
    when no other year has that month, by linear interpolation between the nearest untagged months
    (the nearest one, at either end). Forecasts and bounds are clipped at zero.

    Answers are cached (the same months, horizon and flag give the same, immutable, Forecast).
    Raises NotEnoughHistory under 3 months, ValueError for a malformed month or horizon, and
    ForecastUnavailable when statsforecast is not installed.
    """
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be 1 to {MAX_HORIZON} months, got {horizon}")
    key = tuple(sorted((month, float(kilos), bool(is_outlier)) for month, kilos, is_outlier in months))
    return _forecast(key, horizon, remove_outliers)


def clear_forecast_cache() -> None:
    """Forget every cached forecast (for benchmarks; the cache is keyed by its inputs, so never stale)."""
    _forecast.cache_clear()


def preload() -> None:
    """Import statsforecast now (a few seconds), e.g. in a background thread at start-up."""
    _library()


@lru_cache(maxsize=CACHE_SIZE)
def _forecast(months: Months, horizon: int, remove_outliers: bool) -> Forecast:
    first, actual, tagged = _calendar(months)
    if remove_outliers and tagged.all():
        raise NotEnoughHistory("every month is tagged as an outlier: nothing left to learn from")
    train = _training_values(actual, tagged, remove_outliers)
    fit = _fit(train, horizon, intervals=True)
    removed = tuple(_month_name(first + int(i)) for i in np.flatnonzero(tagged)) if remove_outliers else ()
    start = first + len(actual)
    return Forecast(
        model=fit.model,
        trained_on=TrainedOn(_month_name(first), _month_name(start - 1), len(actual), removed),
        backtest=_backtest(actual, tagged, remove_outliers),
        forecast=tuple(
            ForecastMonth(
                _month_name(start + step),
                _kilos(fit.mean[step]),
                _kilos(fit.bounds["lo-80"][step]),
                _kilos(fit.bounds["hi-80"][step]),
                _kilos(fit.bounds["lo-95"][step]),
                _kilos(fit.bounds["hi-95"][step]),
            )
            for step in range(horizon)
        ),
    )


def _calendar(months: Months) -> tuple[int, Floats, Flags]:
    """(index of the first month, kilos and outlier flags of every month from the first to the last),
    of the last MAX_TRAINING_MONTHS at most."""
    if not months:
        raise NotEnoughHistory("no months: at least 3 are needed")
    indexes = [_month_index(month) for month, _, _ in months]
    for (month, _, _), previous, index in zip(months[1:], indexes, indexes[1:], strict=False):
        if index == previous:
            raise ValueError(f"{month} appears twice")
    first = max(indexes[0], indexes[-1] - MAX_TRAINING_MONTHS + 1)
    span = indexes[-1] - first + 1
    if span < MIN_MONTHS:
        raise NotEnoughHistory(
            f"{span} {'month' if span == 1 else 'months'} of history ({months[0][0]} to {months[-1][0]}): "
            f"at least {MIN_MONTHS} are needed"
        )
    actual = np.zeros(span)
    tagged = np.zeros(span, dtype=np.bool_)
    for index, (month, kilos, is_outlier) in zip(indexes, months, strict=True):
        if not (math.isfinite(kilos) and kilos >= 0):
            raise ValueError(f"{month}: kilos must be a finite number >= 0, got {kilos}")
        if index < first:
            continue
        actual[index - first] = kilos
        tagged[index - first] = is_outlier
    return first, actual, tagged


def _month_index(year_month: str) -> int:
    match = _YEAR_MONTH.fullmatch(year_month)
    if match is None:
        raise ValueError(f"not a month (YYYY-MM): {year_month!r}")
    return int(match[1]) * 12 + int(match[2]) - 1


def _month_name(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _training_values(actual: Floats, tagged: Flags, remove_outliers: bool) -> Floats:
    """The values a model learns from: the actual kilos, with tagged months replaced if asked.

    Replacement uses only the months given (a backtest window never sees its future)."""
    if not remove_outliers or not tagged.any() or tagged.all():
        return actual
    values = actual.copy()
    clean = np.flatnonzero(~tagged)
    for index in np.flatnonzero(tagged):
        same_month = [i for i in range(index % SEASON, len(actual), SEASON) if not tagged[i]]
        if same_month:
            values[index] = float(np.mean(actual[same_month]))
        else:
            values[index] = float(np.interp(index, clean, actual[clean]))
    return values


def _backtest(
    actual: Floats, tagged: Flags, remove_outliers: bool, fit: Callable[[Floats, int, bool], "_Fit"] | None = None
) -> Backtest:
    """Rolling-origin errors over the last 12 months (see `Backtest`); `fit` swaps the model
    (docs/decisions/005-forecast-model.md)."""
    fit = fit or _fit
    months = len(actual)
    if months < MIN_BACKTEST_MONTHS:
        nothing = Errors(None, None, None)
        return Backtest(
            one_step=BacktestRun(0, nothing, nothing, ()),
            twelve_step=BacktestRun(0, nothing, nothing, ()),
            mase_scale=None,
            mase_naive_lag=None,
            note=f"a backtest needs {MIN_BACKTEST_MONTHS} months of history (the last 12 are held out), "
            f"this vegetable has {months}",
        )
    start = months - BACKTEST_MONTHS
    held_out = actual[start:]
    one_step_model = np.empty(BACKTEST_MONTHS)
    one_step_naive = np.empty(BACKTEST_MONTHS)
    one_step_models: set[str] = set()
    for step, origin in enumerate(range(start, months)):
        train = _training_values(actual[:origin], tagged[:origin], remove_outliers)
        fitted = fit(train, BACKTEST_MONTHS if origin == start else 1, False)
        if origin == start:
            # The first one-step origin and the twelve-step origin are the same window: one fit.
            twelve_step_fit, twelve_step_train = fitted, train
        one_step_model[step] = fitted.mean[0]
        one_step_naive[step] = _seasonal_naive(train, 1)[0]
        one_step_models.add(fitted.model)
    lag = SEASON if start >= MIN_SEASONAL_MONTHS else 1
    scale_values = _training_values(actual[:start], tagged[:start], True)
    scale = float(np.mean(np.abs(scale_values[lag:] - scale_values[:-lag])))
    return Backtest(
        one_step=BacktestRun(
            BACKTEST_MONTHS,
            _errors(held_out, one_step_model, scale),
            _errors(held_out, one_step_naive, scale),
            tuple(sorted(one_step_models)),
        ),
        twelve_step=BacktestRun(
            1,
            _errors(held_out, twelve_step_fit.mean, scale),
            _errors(held_out, _seasonal_naive(twelve_step_train, BACKTEST_MONTHS), scale),
            (twelve_step_fit.model,),
        ),
        mase_scale=round(scale, 4),
        mase_naive_lag=lag,
        note=None,
    )


def _seasonal_naive(train: Floats, horizon: int) -> Floats:
    """The same month last year; the last month when the window holds less than a year.

    (A backtest window always holds a year or more, since the backtest needs 24 months.)"""
    if len(train) < SEASON:
        return np.full(horizon, train[-1])
    last_year = train[-SEASON:]
    return np.array([last_year[step % SEASON] for step in range(horizon)])


def _errors(actual: Floats, forecast: Floats, scale: float) -> Errors:
    """MAE, sMAPE (a month where both are zero counts as no error) and MASE (null if the scale is 0)."""
    error = np.abs(actual - forecast)
    total = np.abs(actual) + np.abs(forecast)
    ratios = np.divide(error, total, out=np.zeros_like(error), where=total > 0)
    mae = float(np.mean(error))
    return Errors(
        mae=round(mae, 2),
        smape=round(200 * float(np.mean(ratios)), 2),
        mase=round(mae / scale, 3) if scale > 0 else None,
    )


def _fit(values: Floats, horizon: int, intervals: bool) -> _Fit:
    """Fit the model for this length of history (see the module docstring) and forecast `horizon` months.

    If the optimiser fails on a form (it can on odd hand-made series), the next simpler one runs
    instead; the name says which did."""
    library = _library()
    levels = [80, 95] if intervals else None
    forms: list[tuple[int, str, bool | None]] = []
    if len(values) >= MIN_SEASONAL_MONTHS:
        if values.min() > 0:
            forms.append((SEASON, "MAM", True))
        forms.append((SEASON, "AAA", True))
    if len(values) >= MIN_ETS_MONTHS:
        forms.append((1, "ANN", None))
    for season_length, form, damped in forms:
        try:
            model = library.AutoETS(season_length=season_length, model=form, damped=damped).fit(values)
            fit = _clipped(_ets_name(model.model_), model.predict(horizon, level=levels), horizon, intervals)
        except Exception:  # statsforecast signals a failed fit with a bare Exception, or a ValueError
            continue
        if fit is not None:
            return fit
    naive = _clipped("naive (last month)", library.Naive().forecast(values, horizon, level=levels), horizon, intervals)
    assert naive is not None, "the naive forecast of finite kilos is finite"
    return naive


def _clipped(name: str, prediction: dict[str, Any], horizon: int, intervals: bool) -> _Fit | None:
    """The prediction clipped at zero (kilos are never negative); None if any value is not finite."""
    keys = ["lo-80", "hi-80", "lo-95", "hi-95"] if intervals else []
    arrays = {key: np.maximum(np.asarray(prediction[key], dtype=np.float64), 0.0) for key in ["mean", *keys]}
    if any(len(array) != horizon or not np.isfinite(array).all() for array in arrays.values()):
        return None
    mean = arrays.pop("mean")
    return _Fit(name, mean, arrays)


def _ets_name(model: dict[str, Any]) -> str:
    """'ETS(M,Ad,M) season 12' from statsforecast's components code ('MAMD': error, trend, season, damped)."""
    error, trend, season, damped = tuple(str(model["components"]))
    name = f"ETS({error},{trend}{'d' if damped == 'D' else ''},{season})"
    return f"{name} season {SEASON}" if season != "N" else name


def _kilos(value: float) -> float:
    return round(float(value), 2)


@cache
def _library() -> Any:
    """statsforecast.models, imported once, on first use (it takes seconds)."""
    try:
        from statsforecast import models
    except ImportError as error:
        raise ForecastUnavailable("forecasts need statsforecast: pip install 'vegsales[forecast]'") from error
    return models
