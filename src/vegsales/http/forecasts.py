"""Forecasts: each vegetable's coming months, fitted on its monthly sales."""

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict
from typing import Annotated, Any

from anyio import to_thread
from fastapi import Query
from fastapi.responses import Response

from ..asgi import ApiError, json_reply
from ..forecast_types import Forecast, ForecastUnavailable, NotEnoughHistory
from ..reports import ErrorBody, MonthKilos, UnknownName, VegetableForecast, monthly_history, vegetable_forecast
from .operation import BOOLEANS, ERROR, VERSION_ERRORS, AsOf, Endpoint, RemoveOutliers, operation, to_response
from .service import Service
from .vegetables import canonical

INSTALL_FORECAST = "forecasts need the forecast extra: pip install 'vegsales[forecast]'"
CHART_MONTHS = 12
Forecaster = Callable[[Sequence[MonthKilos], int, bool], Forecast]


def forecaster() -> Forecaster:
    """forecast.forecast_vegetable (numpy, and statsforecast on the first fit: imported lazily); 501
    when forecasts are not installed."""
    try:
        from ..forecast import forecast_vegetable
    except ImportError as error:
        raise ApiError(501, "forecast_unavailable", f"{error}: {INSTALL_FORECAST}") from None
    return forecast_vegetable


def forecasts(
    service: Service, names: list[str], horizon: int, remove_outliers: bool, single: bool, as_of: str | None = None
) -> tuple[list[VegetableForecast], int]:
    """Each vegetable's forecast from its gold rows (cached by their content: refitted only when
    they changed), and the data version they come from; a vegetable with too little history is left
    out of a list of several."""
    forecast_vegetable = forecaster()
    answers = []
    rows, version = service.gold_rows_of_version(as_of)
    for name, months in monthly_history(rows, names).items():
        try:
            answers.append(vegetable_forecast(name, forecast_vegetable(months, horizon, remove_outliers), version))
        except ForecastUnavailable as error:
            raise ApiError(501, "forecast_unavailable", str(error)) from None
        except NotEnoughHistory as error:
            if single:
                raise ApiError(422, "not_enough_history", f"{name}: {error}") from None
    return answers, version


async def forecast_bands(service: Service, vegetable: str, remove_outliers: bool) -> list[dict[str, Any]]:
    """The next months of one vegetable's chart, with their intervals; none when forecasts are not
    installed or its history allows none."""
    with suppress(ApiError):
        (answer,), _ = await to_thread.run_sync(forecasts, service, [vegetable], CHART_MONTHS, remove_outliers, True)
        return [asdict(month) for month in answer["forecast"]]
    return []


@operation(
    {
        200: {"model": VegetableForecast | list[VegetableForecast]},
        400: ERROR,
        404: {"model": UnknownName},
        422: {"model": ErrorBody, "description": "Too little history to fit (under 3 months)"},
        501: {"model": ErrorBody, "description": "Forecasts are not installed: pip install 'vegsales[forecast]'"},
        **VERSION_ERRORS,
    }
)
def get_forecast(service: Service) -> Endpoint:
    async def get_forecast(
        vegetable: Annotated[str | None, Query(max_length=100, examples=["Zanahoria"])] = None,
        horizon: Annotated[int, Query(ge=1, le=24)] = 12,
        remove_outliers: RemoveOutliers = "false",
        as_of: AsOf = None,
    ) -> Response:
        """Monthly kilos forecast for the next `horizon` months with 80 % and 95 % intervals, trained on
        every month or (remove_outliers) with the outlier months replaced, and a backtest of the last
        12 months against the seasonal-naive baseline. Without `vegetable`, every vegetable (a list)."""
        if vegetable is not None:
            names = [canonical(service, vegetable)]
        else:
            rows, _ = await to_thread.run_sync(service.gold_rows_of_version, as_of)
            names = sorted({row.vegetable for row in rows})
        flag, single = BOOLEANS[remove_outliers], vegetable is not None
        answers, version = await to_thread.run_sync(forecasts, service, names, horizon, flag, single, as_of)
        reply = json_reply(200, answers[0] if single else answers)
        reply.headers["X-Data-Version"] = str(version)
        return to_response(reply)

    return get_forecast
