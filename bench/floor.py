"""The floor: a no-work ASGI app with the service's three hot endpoints, served as the service is (`python
bench/floor.py --port 8000`). At start the real app imports the sample and answers each hot GET, with and without
gzip, and one post updating a record; the floor answers those bytes, looking at nothing but the path, the query
and Accept-Encoding, with a new X-Request-ID each. Served by `vegsales.server.run_server` (uvicorn, one worker):
what is left is the cost of the server and the ASGI round trip, the floor under the service's."""

import argparse
import csv
import functools
import itertools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from vegsales.api import accepts_gzip
from vegsales.server import build_app, run_server
from vegsales.settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_sales.csv"
LOCUST_ACCEPT_ENCODING = "gzip, deflate, br"  # what locust's FastHttpUser sends
REQUEST_ID = b"x-request-id"  # the one header that is new at every request: the floor makes its own
GETS = ("/get_raw_sales", "/get_monthly_sales?remove_outliers=false", "/get_monthly_sales?remove_outliers=true")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def captured(client: TestClient, method: str, url: str, accept_encoding: str, body: bytes | None = None) -> Answer:
    """The real app's answer as sent: its headers and undecoded body bytes."""
    headers = {"Accept-Encoding": accept_encoding, "Content-Type": "application/json"}
    with client.stream(method, url, content=body, headers=headers) as response:
        kept = [(name.lower(), value) for name, value in response.headers.raw if name.lower() != REQUEST_ID]
        return Answer(response.status_code, kept, b"".join(response.iter_raw()))


def capture() -> dict[tuple[str, str, bool], Answer]:
    """(method, path?query, gzip accepted) -> the real service's answer, for the sample data."""
    with open(SAMPLE, newline="", encoding="utf-8-sig") as file:
        records = list(csv.DictReader(file))
    answers = {}
    with tempfile.TemporaryDirectory() as folder:
        app = build_app(Settings.load(backend="sqlite", location=str(Path(folder) / "sales.db")).resolved())
        with TestClient(app, base_url="http://127.0.0.1") as client:  # a name the host guard accepts
            for start in range(0, len(records), 500):  # the chunks `vegsales import` posts
                status = client.post("/post_sales", content=orjson.dumps(records[start : start + 500])).status_code
                assert status in (200, 422), status
            for url in GETS:
                for gzip in (True, False):
                    answer = captured(client, "GET", url, LOCUST_ACCEPT_ENCODING if gzip else "identity")
                    assert answer.status == 200, (url, answer)
                    answers["GET", url, gzip] = answer
            # A stored record with other kilos: an update, as most of locust's posts are.
            post = orjson.dumps([{**records[0], "kilo_sold": float(records[0]["kilo_sold"]) + 0.5}])
            answer = captured(client, "POST", "/post_sales", "identity", post)
            assert orjson.loads(answer.body)["updated"] == 1, answer  # its warnings, if any, replayed too
            answers["POST", "/post_sales", False] = answer
            answers["GET", "/health", False] = captured(client, "GET", "/health", "identity")
    for (method, url, _), answer in list(answers.items()):  # the same answer whatever the encoding
        answers.setdefault((method, url, True), answer)
    return answers


NOT_FOUND_BODY = b'{"error":"not_found","message":"not served by the floor"}'
NOT_FOUND_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(NOT_FOUND_BODY))]
NOT_FOUND = Answer(404, NOT_FOUND_HEADERS, NOT_FOUND_BODY)
gzip_accepted = functools.lru_cache(maxsize=64)(accepts_gzip)


class Floor:
    """Answers every request from the captured answers; reads POST bodies and nothing else."""

    def __init__(self, answers: dict[tuple[str, str, bool], Answer]):
        self.answers, self.request_ids = answers, itertools.count()

    def close(self) -> None:
        """Nothing to release (run_server() closes an app it will not run, as it does the service's)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()  # startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # shutdown
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["method"] == "POST":
            message = await receive()
            while message.get("more_body", False):
                message = await receive()
        query = scope["query_string"]
        url = f"{scope['path']}?{query.decode('latin-1')}" if query else scope["path"]
        accept_encoding = next((value for name, value in scope["headers"] if name == b"accept-encoding"), b"")
        gzip = gzip_accepted(accept_encoding.decode("latin-1"))
        answer = self.answers.get((scope["method"], url, gzip), NOT_FOUND)
        headers = [*answer.headers, (REQUEST_ID, b"%032x" % next(self.request_ids))]  # as long as a uuid4().hex
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    settings = Settings.load(port=parser.parse_args().port)
    run_server(Floor(capture()), settings)  # type: ignore[arg-type]  # one worker: only run


if __name__ == "__main__":
    main()
