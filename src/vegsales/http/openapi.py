"""The API's document, as FastAPI writes it from the routes, less what this API never answers."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi


def openapi_document(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document, without the 422 it adds to every operation with parameters: this API
    answers a bad parameter with 400; the 422s it documents are its own."""
    if api.openapi_schema is None:
        document = get_openapi(title=api.title, version=api.version, summary=api.summary, routes=api.routes)
        for operations in document["paths"].values():
            for operation in operations.values():
                if operation["responses"].get("422", {}).get("description") == "Validation Error":
                    del operation["responses"]["422"]
        for name in ("HTTPValidationError", "ValidationError"):
            document.get("components", {}).get("schemas", {}).pop(name, None)
        api.openapi_schema = document
    return api.openapi_schema
