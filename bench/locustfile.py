"""The required load: post : get_raw_sales : get_monthly_sales = 2 : 1 : 1 (`locust -f bench/locustfile.py
--host http://127.0.0.1:8000 --headless -u 100 -r 100 -t 60s`). Each post is one row of the sample with its
kilos varied, so most posts update stored rows; a reply is a failure unless it is a 200 with the expected JSON
shape. VEGSALES_RATE (total requests/s, default 1000) is spread over VEGSALES_USERS users (default 100)."""

import gc
import os
import random

import msgspec
import orjson
from locust import FastHttpUser, constant_throughput, events, task

# Locust puts this file's folder first on the module path while it loads it: bench/sample.py.
from sample import valid_sample_rows, varied


class RawSale(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    date: str
    vegetable: str
    kilo_sold: float


class MonthlySale(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    year_month: str
    vegetable: str
    kilo_sold: float
    is_outlier: bool


# Typed decoding checks every row's fields and types, at less cost than building dicts; rows
# untracked by the garbage collector keep thousands of objects a second from triggering it.
RAW_SHAPE = msgspec.json.Decoder(list[RawSale])
MONTHLY_SHAPE = msgspec.json.Decoder(list[MonthlySale])
ROWS = valid_sample_rows()


class SalesUser(FastHttpUser):
    users = int(os.environ.get("VEGSALES_USERS", "100"))
    wait_time = constant_throughput(float(os.environ.get("VEGSALES_RATE", "1000")) / users)

    def on_start(self) -> None:
        self.rng, self.remove_outliers = random.Random(), False

    @task(2)
    def post_sales(self) -> None:
        body = orjson.dumps([varied(self.rng.choice(ROWS), self.rng)])
        headers = {"Content-Type": "application/json"}
        with self.client.post("/post_sales", data=body, headers=headers, catch_response=True) as response:
            try:
                report = orjson.loads(response.content)
                ok = response.status_code == 200 and report["inserted"] + report["updated"] + report["unchanged"] == 1
            except (orjson.JSONDecodeError, KeyError, TypeError):
                ok = False
            self._judge(response, ok)

    @task(1)
    def get_raw_sales(self) -> None:
        self._get("/get_raw_sales", "/get_raw_sales", RAW_SHAPE)

    @task(1)
    def get_monthly_sales(self) -> None:
        self.remove_outliers = not self.remove_outliers
        flag = "true" if self.remove_outliers else "false"
        self._get(f"/get_monthly_sales?remove_outliers={flag}", "/get_monthly_sales", MONTHLY_SHAPE)

    def _get(self, path: str, name: str, shape: msgspec.json.Decoder) -> None:
        with self.client.get(path, name=name, catch_response=True) as response:
            try:
                ok = response.status_code == 200 and isinstance(shape.decode(response.content), list)
            except msgspec.ValidationError:
                ok = False
            self._judge(response, ok)

    def _judge(self, response, ok: bool) -> None:
        if ok:
            response.success()
        else:
            response.failure(f"status {response.status_code}: {response.text[:200]}")


@events.test_start.add_listener
def freeze_startup_objects(environment, **kwargs) -> None:
    gc.freeze()  # the sample rows and locust's own objects need no more collecting
