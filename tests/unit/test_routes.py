"""The routes table and what is derived from it: the guards' view of each path, the Allow headers, the
hot routes' handlers."""

import pytest

from vegsales.guards import PathRules
from vegsales.http import operations, sales
from vegsales.http.routes import ROUTES, Route, allowed_methods, path_rules

ALLOW = {
    "/post_sales": "OPTIONS, POST",
    "/get_raw_sales": "GET, HEAD, OPTIONS",
    "/get_weekly_sales": "GET, HEAD, OPTIONS",
    "/get_monthly_sales": "GET, HEAD, OPTIONS",
    "/delete_sales": "OPTIONS, POST",
    "/init_database": "GET, OPTIONS, POST",  # its GET empties the store: no HEAD
    "/get_rejected_sales": "GET, HEAD, OPTIONS",
    "/replay_rejected": "OPTIONS, POST",
    "/get_data_quality": "GET, HEAD, OPTIONS",
    "/metrics": "GET, HEAD, OPTIONS",
    "/resolve_vegetable": "GET, HEAD, OPTIONS",
    "/get_forecast": "GET, HEAD, OPTIONS",
    "/get_history": "GET, HEAD, OPTIONS",
    "/": "GET, HEAD, OPTIONS",
    "/dashboard": "GET, HEAD, OPTIONS",
    "/docs": "GET, HEAD, OPTIONS",
    "/redoc": "GET, HEAD, OPTIONS",
    "/dashboard/chart.svg": "GET, HEAD, OPTIONS",
    "/health": "GET, HEAD, OPTIONS",
}


def test_the_guards_know_which_paths_change_data_and_which_token_each_needs():
    assert path_rules(ROUTES) == PathRules(
        access={
            "/post_sales": "write",
            "/delete_sales": "admin",
            "/init_database": "admin",
            "/replay_rejected": "admin",
            "/metrics": "admin",
        },
        changing=frozenset({"/post_sales", "/delete_sales", "/init_database", "/replay_rejected"}),
        unsafe_gets=frozenset({"/init_database"}),
    )


def test_each_path_allows_its_methods_head_with_a_get_that_changes_nothing_and_options():
    assert allowed_methods(ROUTES) == ALLOW


def test_the_hot_routes_are_the_writes_of_records_and_the_table_reads():
    assert [(route.methods, route.path) for route in ROUTES if route.hot] == [
        (("POST",), "/post_sales"),
        (("GET",), "/get_raw_sales"),
        (("GET",), "/get_weekly_sales"),
        (("GET",), "/get_monthly_sales"),
        (("POST",), "/delete_sales"),
    ]


def test_each_path_and_method_is_declared_once():
    pairs = [(method, route.path) for route in ROUTES for method in route.methods]
    assert len(pairs) == len(set(pairs))


@pytest.mark.parametrize(
    ("hot", "endpoint"),
    [(True, operations.health), (False, sales.post_sales)],
    ids=["hot_without_a_handler", "handler_on_a_route_not_hot"],
)
def test_a_route_is_hot_exactly_when_its_operation_has_a_handler(hot, endpoint):
    with pytest.raises(ValueError, match="hot route"):
        Route("/x", ("GET",), "read", False, hot, endpoint)
