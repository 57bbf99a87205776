"""The shapes of a forecast answer, apart from the fitting (forecast.py) so that the API can
describe them without importing numpy or the forecasting library."""

from dataclasses import dataclass


class NotEnoughHistory(ValueError):
    """Too few months to fit any model."""


class ForecastUnavailable(RuntimeError):
    """statsforecast is not installed (it is the optional extra vegsales[forecast])."""


@dataclass(frozen=True, slots=True)
class ForecastMonth:
    """One forecast month: kilos, and the bounds of the 80 % and 95 % prediction intervals."""

    year_month: str
    kilo_sold: float
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float


@dataclass(frozen=True, slots=True)
class TrainedOn:
    """The months the model learned from: the whole calendar span, missing months counted as zero."""

    first_month: str
    last_month: str
    months: int
    outlier_months_removed: tuple[str, ...]
    """Tagged months replaced for training (remove_outliers=True); empty otherwise."""
    data_version: int = 0
    """The data version of the monthly rows it learnt from (set when served)."""


@dataclass(frozen=True, slots=True)
class Errors:
    """MAE (kilos), sMAPE (percent, 0-200) and MASE of one forecaster; null without a backtest."""

    mae: float | None
    smape: float | None
    mase: float | None


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """Errors over the last 12 months, of the model and of the seasonal-naive baseline."""

    origins: int
    """How many fits: 12 for one-step (one per month), 1 for twelve-step."""
    model: Errors
    seasonal_naive: Errors
    models: tuple[str, ...]
    """Which models the backtest fits ran (a short history may fit a simpler one than the forecast)."""


@dataclass(frozen=True, slots=True)
class Backtest:
    """How the model would have done on the last 12 months, against the same month last year.

    one_step: for each of the last 12 months, fit on every month before it and forecast it.
    twelve_step: fit on every month before the last 12 and forecast all 12 at once.
    With remove_outliers=True the training windows hold the replaced values (each window replaces
    from its own months only, so nothing later leaks in), and so does the baseline's "last year";
    errors are always measured against the kilos actually recorded.
    """

    one_step: BacktestRun
    twelve_step: BacktestRun
    mase_scale: float | None
    """The MASE denominator: the in-sample MAE of the naive forecast (lag `mase_naive_lag`) over the
    months before the last 12, with tagged outlier months replaced whatever remove_outliers says, so
    that one spike does not shrink every MASE and both settings share one scale."""
    mase_naive_lag: int | None
    """12 (the same month last year) when those months span 24 or more, else 1 (the month before)."""
    note: str | None
    """Why the figures are null, when they are."""


@dataclass(frozen=True, slots=True)
class Forecast:
    """One vegetable's forecast, what it was trained on and how its model fared in the backtest."""

    model: str
    trained_on: TrainedOn
    backtest: Backtest
    forecast: tuple[ForecastMonth, ...]
