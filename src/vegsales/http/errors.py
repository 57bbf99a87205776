"""FastAPI's own errors as the API's, and every exception through the one mapping (asgi.reply_for)."""

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..asgi import ApiError, reply_for
from ..storage import StorageError
from .operation import to_response


def add_error_handlers(api: FastAPI, allowed: Mapping[str, str]) -> None:
    """FastAPI's own errors, as ApiErrors (a 405 with the path's `allowed` methods), and every
    exception through the one mapping."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        allow = allowed.get(request.url.path) if exc.status_code == 405 else None
        headers = {"Allow": allow} if allow else {}
        return to_response(reply_for(ApiError(exc.status_code, code, str(exc.detail), headers), request.scope))

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return to_response(reply_for(ApiError(400, "invalid_request", message), request.scope))

    async def any_error(request: Request, exc: Exception) -> Response:
        return to_response(reply_for(exc, request.scope))

    api.add_exception_handler(StarletteHTTPException, http_error)
    api.add_exception_handler(RequestValidationError, invalid_request)
    # Starlette re-raises what reaches its Exception handler (after answering), for the server's log.
    for error in (ApiError, StorageError, Exception):
        api.add_exception_handler(error, any_error)
