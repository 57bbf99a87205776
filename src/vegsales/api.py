"""create_app(store): the HTTP API, under the name the servers, tests and benchmarks import.

The API lives in vegsales.http: the routes table (http/routes.py), one module per resource, the
wiring (http/app.py). The shapes it answers are in reports.py (the quarantine's rows and their
errors, data quality, forecasts) and in pipeline.py (the post's and the replay's reports).
"""

from .http.app import SalesApp, create_app
from .http.negotiation import accepts_gzip
from .http.pages import PAGE_POLICY, REDOC_POLICY, SECURITY_HEADERS
from .http.service import Limits

__all__ = ["PAGE_POLICY", "REDOC_POLICY", "SECURITY_HEADERS", "Limits", "SalesApp", "accepts_gzip", "create_app"]
