"""The HTTP checks of docker/topology-test.sh: two API replicas on one PostgreSQL database behind nginx.

    python docker/topology_check.py PHASE --nginx URL --replica URL PID --replica URL PID --log FILE --state FILE

Phases, run in this order by the shell script (which starts and stops the processes):
  balanced   both replicas up: exact answers through nginx, read-your-writes across replicas,
             both replicas used, then SIGKILL of the replica nginx will pick next;
  failover   that replica dead: GETs and POSTs still answer through nginx, and the nginx access log
             shows each failed attempt retried on the other replica;
  restarted  the killed replica started again: it serves every record posted while it was down.
Each check prints `  ok  ...`; the first failure prints `FAIL: ...` and exits 1. The number of passed
checks is appended to the state file, which also carries the expected data from phase to phase.
"""

import argparse
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

INIT = {"status": "ok", "tables": ["bronze_sales", "silver_sales", "gold_sales", "rejected_sales"]}
RECORDS = [
    {"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 70},
    {"date": "2020-01-27", "vegetable": "Poire", "kilo_sold": 14},
    {"date": "2021-02-29", "vegetable": "Tomate", "kilo_sold": 1},
]
REJECTED = [{"index": 2, "errors": [{"field": "date", "message": "'2021-02-29' is not a real calendar date"}]}]
REPORT = {"received": 3, "inserted": 2, "updated": 0, "unchanged": 0, "rejected": REJECTED, "warnings": []}
REPOST_REPORT = {"received": 3, "inserted": 0, "updated": 0, "unchanged": 2, "rejected": REJECTED, "warnings": []}
RAW = [
    {"date": "2020-01-27", "vegetable": "Poire", "kilo_sold": 14},
    {"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 70},
]
# The week of 2020-01-27 has 5 days in January and 2 in February; names are cleaned to English.
MONTHLY = [
    {"year_month": "2020-01", "vegetable": "pear", "kilo_sold": 10, "is_outlier": False},
    {"year_month": "2020-01", "vegetable": "tomato", "kilo_sold": 50, "is_outlier": False},
    {"year_month": "2020-02", "vegetable": "pear", "kilo_sold": 4, "is_outlier": False},
    {"year_month": "2020-02", "vegetable": "tomato", "kilo_sold": 20, "is_outlier": False},
]
# Ten weeks that each lie within one month; the alternating loop inserts week k with k + 1 kilos,
# then updates it to 10 * (k + 1): March 10+20+30+40, April 50+60+70, May 80+90+100.
WEEKS = [
    "2021-03-01",
    "2021-03-08",
    "2021-03-15",
    "2021-03-22",
    "2021-04-05",
    "2021-04-12",
    "2021-04-19",
    "2021-05-03",
    "2021-05-10",
    "2021-05-17",
]
MONTHLY_AFTER_LOOP = [
    *MONTHLY,
    {"year_month": "2021-03", "vegetable": "carrot", "kilo_sold": 100, "is_outlier": False},
    {"year_month": "2021-04", "vegetable": "carrot", "kilo_sold": 180, "is_outlier": False},
    {"year_month": "2021-05", "vegetable": "carrot", "kilo_sold": 270, "is_outlier": False},
]
# Posted while one replica is down: 5 kilos, then 6 kilos (posted until nginx retries one such post).
JUNE = [("2021-06-07", 5), ("2021-06-14", 6)]
MONTHLY_FINAL = [
    *MONTHLY_AFTER_LOOP,
    {"year_month": "2021-06", "vegetable": "carrot", "kilo_sold": 11, "is_outlier": False},
]
BODY_LIMIT = 16 * 1024 * 1024
FAIL_TIMEOUT = 10  # deploy/nginx.conf: max_fails=1 fail_timeout=10s

LOG_LINE = re.compile(
    r'"(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d+) \d+ '
    r"upstream=(?P<addr>.*?) upstream_status=(?P<ustatus>.*?) request_time="
)


class CheckFailed(Exception):
    pass


class Run:
    def __init__(self, args: argparse.Namespace):
        self.nginx = args.nginx.rstrip("/")
        self.replicas = [(url.rstrip("/"), int(pid)) for url, pid in args.replica]
        self.log = Path(args.log)
        self.state_file = Path(args.state)
        self.state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {"passed": 0}
        self.passed = 0

    # ------------------------------------------------------------------------------------------ plumbing
    def ok(self, message: str) -> None:
        self.passed += 1
        print(f"  ok  {message}", flush=True)

    def save(self) -> None:
        self.state["passed"] += self.passed
        self.state_file.write_text(json.dumps(self.state))

    @staticmethod
    def http(url: str, method: str = "GET", body: object = None, headers: dict | None = None, raw: bytes | None = None):
        """(status, parsed JSON or text, headers) of one request on a new connection."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text, answer_headers = response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as error:
            status, text, answer_headers = error.code, error.read().decode(), error.headers
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return status, parsed, answer_headers

    def log_lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def via_nginx(self, method: str, path: str, body: object = None, headers: dict | None = None, raw=None):
        """One request through nginx, and nginx's access-log entry for it (the test is nginx's only client)."""
        before = len(self.log_lines())
        status, answer, answer_headers = self.http(self.nginx + path, method, body, headers, raw)
        deadline = time.monotonic() + 5
        while len(lines := self.log_lines()) <= before:
            if time.monotonic() > deadline:
                raise CheckFailed(f"nginx logged nothing for {method} {path}")
            time.sleep(0.01)
        if len(lines) != before + 1:
            raise CheckFailed(f"nginx logged {len(lines) - before} lines for one request: {lines[before:]}")
        match = LOG_LINE.search(lines[-1])
        if not match:
            raise CheckFailed(f"unexpected nginx log line (log_format changed?): {lines[-1]}")
        entry = {
            "addrs": [a.strip() for a in match["addr"].split(",")],
            "statuses": [s.strip() for s in match["ustatus"].split(",")],
            "line": lines[-1],
        }
        return status, answer, answer_headers, entry

    def expect(self, label: str, method: str, path: str, status: int, expected, body=None):
        got_status, got, _, entry = self.via_nginx(method, path, body)
        if got_status != status or got != expected:
            raise CheckFailed(
                f"{label}: {method} {path} through nginx: expected HTTP {status} with\n    {json.dumps(expected)}\n"
                f"  got HTTP {got_status} with\n    {json.dumps(got)}\n  nginx: {entry['line']}"
            )
        return entry

    def direct(self, url: str, path: str):
        status, answer, _ = self.http(url + path)
        if status != 200:
            raise CheckFailed(f"GET {url}{path}: HTTP {status}: {answer}")
        return answer

    def address(self, url: str) -> str:
        return url.removeprefix("http://")

    # ------------------------------------------------------------------------------------------ phases
    def balanced(self) -> None:
        (url1, _), (url2, _) = self.replicas
        self.expect("init", "POST", "/init_database", 200, INIT)
        self.ok("POST /init_database through nginx empties the database")
        self.expect("post", "POST", "/post_sales", 200, REPORT, RECORDS)
        self.ok("POST /post_sales through nginx: exact report (2 stored, the invalid date rejected)")
        self.expect("raw", "GET", "/get_raw_sales", 200, RAW)
        self.expect("monthly", "GET", "/get_monthly_sales", 200, MONTHLY)
        self.ok("GET /get_raw_sales and /get_monthly_sales through nginx: exact rows")
        self.expect("repost", "POST", "/post_sales", 200, REPOST_REPORT, RECORDS)
        self.ok("the same post again changes nothing (2 unchanged): a repeated POST is harmless")

        # ETags come from the database's sequence: one replica's ETag is current on the other.
        _, _, headers, first = self.via_nginx("GET", "/get_raw_sales")
        etag = headers.get("ETag")
        status, _, _, second = self.via_nginx("GET", "/get_raw_sales", headers={"If-None-Match": etag or ""})
        if not etag or status != 304 or first["addrs"] == second["addrs"]:
            raise CheckFailed(f"ETag {etag!r} from {first['addrs']} gave HTTP {status} on {second['addrs']}")
        self.ok(f"an ETag from one replica gets a 304 from the other ({etag})")

        # Read-your-writes across replicas: round robin sends each read to the other replica than its post.
        expected = {(r["date"], r["vegetable"]): r["kilo_sold"] for r in RAW}
        used: dict[str, int] = {}
        for step in range(20):
            week, kilos = WEEKS[step // 2], (step // 2 + 1) * (10 if step % 2 else 1)
            report = {"received": 1, "inserted": 1 - step % 2, "updated": step % 2, "unchanged": 0, "rejected": [], "warnings": []}
            post = self.expect(
                f"step {step}",
                "POST",
                "/post_sales",
                200,
                report,
                [{"date": week, "vegetable": "Carotte", "kilo_sold": kilos}],
            )
            expected[(week, "Carotte")] = kilos
            rows = [{"date": d, "vegetable": v, "kilo_sold": k} for (d, v), k in sorted(expected.items())]
            read = self.expect(f"step {step} read-back", "GET", "/get_raw_sales", 200, rows)
            if len(post["addrs"]) != 1 or len(read["addrs"]) != 1 or post["addrs"] == read["addrs"]:
                raise CheckFailed(f"step {step}: post on {post['addrs']}, read on {read['addrs']}: not alternating")
            for entry in (post, read):
                used[entry["addrs"][0]] = used.get(entry["addrs"][0], 0) + 1
        self.ok("20 posts (10 inserts, 10 updates), each read back at once through nginx from the other replica")
        if set(used) != {self.address(url1), self.address(url2)}:
            raise CheckFailed(f"requests went to {used}, not to both replicas")
        self.ok(f"nginx alternated between both replicas: {used}")

        rows = [{"date": d, "vegetable": v, "kilo_sold": k} for (d, v), k in sorted(expected.items())]
        self.expect("monthly after loop", "GET", "/get_monthly_sales", 200, MONTHLY_AFTER_LOOP)
        self.ok("GET /get_monthly_sales through nginx: exact rows (2020-01..2021-05)")
        for url in (url1, url2):
            if (
                self.direct(url, "/get_raw_sales") != rows
                or self.direct(url, "/get_monthly_sales") != MONTHLY_AFTER_LOOP
            ):
                raise CheckFailed(f"replica {url} answers differently from nginx")
        self.ok("each replica, asked directly, answers exactly what nginx answered")

        # A body over 16 MiB: refused by nginx with the service's own JSON error, no replica involved.
        status, answer, _, entry = self.via_nginx("POST", "/post_sales", raw=b" " * (BODY_LIMIT + 1))
        if status != 413 or answer != {"error": "body_too_large", "message": f"the body exceeds {BODY_LIMIT} bytes"}:
            raise CheckFailed(f"a {BODY_LIMIT + 1}-byte body: HTTP {status} {answer}")
        if entry["addrs"] != ["-"]:
            raise CheckFailed(f"a too large body reached a replica: {entry['line']}")
        self.ok("a body over 16 MiB gets nginx's 413 in the service's JSON shape; no replica sees it")

        # Kill (SIGKILL: a crash) the replica that round robin picks next, so that the next request meets it.
        last = self.via_nginx("GET", "/health")[3]["addrs"][0]
        victim = next(i for i, (url, _) in enumerate(self.replicas) if self.address(url) != last)
        victim_url, victim_pid = self.replicas[victim]
        os.kill(victim_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{victim_pid}").exists() and not _is_zombie(victim_pid):
            if time.monotonic() > deadline:
                raise CheckFailed(f"replica pid {victim_pid} still alive after SIGKILL")
            time.sleep(0.02)
        time.sleep(0.3)  # nginx drops its idle keep-alive connections to the dead replica
        self.ok(f"replica {victim + 1} ({victim_url}, pid {victim_pid}) killed with SIGKILL")
        self.state.update(victim=victim, expected=rows)

    def failover(self) -> None:
        victim = self.state["victim"]
        dead = self.address(self.replicas[victim][0])
        live_url = self.replicas[1 - victim][0]
        live = self.address(live_url)
        rows = self.state["expected"]

        first = self.expect("first GET after the kill", "GET", "/get_raw_sales", 200, rows)
        if first["addrs"] != [dead, live] or first["statuses"][-1] != "200":
            raise CheckFailed(f"the first GET after the kill did not fail over from {dead} to {live}: {first['line']}")
        self.ok(f"GET: the dead replica refused the connection, nginx retried it on the other ({upstreams(first)})")

        for _ in range(4):
            entry = self.expect("GET after the kill", "GET", "/get_monthly_sales", 200, MONTHLY_AFTER_LOOP)
            if entry["addrs"] != [live]:
                raise CheckFailed(f"a GET went to {entry['addrs']} while {dead} is marked failed: {entry['line']}")
        self.ok(f"4 more GETs answered by the live replica only (the dead one is left out for {FAIL_TIMEOUT}s)")

        inserted = {"received": 1, "inserted": 1, "updated": 0, "unchanged": 0, "rejected": [], "warnings": []}
        unchanged = {"received": 1, "inserted": 0, "updated": 0, "unchanged": 1, "rejected": [], "warnings": []}
        date, kilos = JUNE[0]
        record = {"date": date, "vegetable": "Carotte", "kilo_sold": kilos}
        self.expect("POST after the kill", "POST", "/post_sales", 200, inserted, [record])
        rows = sorted([*rows, record], key=lambda r: (r["date"], r["vegetable"]))
        self.expect("read back after the kill", "GET", "/get_raw_sales", 200, rows)
        self.ok("POST through nginx with one replica dead: stored and read back")

        # Once fail_timeout has passed, nginx tries the dead replica again (round robin decides which
        # request meets it). The same record is posted until a POST meets it: the refused connection
        # (nothing sent) is retried on the other replica, and the record is stored once.
        time.sleep(FAIL_TIMEOUT + 1.5)  # nginx counts whole seconds: the replica is back in after more than 10
        date, kilos = JUNE[1]
        record = {"date": date, "vegetable": "Carotte", "kilo_sold": kilos}
        for attempt in range(6):
            entry = self.expect(
                "POST after fail_timeout", "POST", "/post_sales", 200, unchanged if attempt else inserted, [record]
            )
            if entry["addrs"] == [dead, live]:
                break
            if entry["addrs"] != [live]:
                raise CheckFailed(f"unexpected upstreams for a POST: {entry['line']}")
        else:
            raise CheckFailed(f"{FAIL_TIMEOUT}s after the failure, 6 POSTs never met the dead replica {dead}")
        rows = sorted([*rows, record], key=lambda r: (r["date"], r["vegetable"]))
        self.ok(
            f"POST {attempt + 1} after fail_timeout met the dead replica, retried on the other ({upstreams(entry)})"
        )
        self.expect("raw after failover", "GET", "/get_raw_sales", 200, rows)
        self.expect("monthly after failover", "GET", "/get_monthly_sales", 200, MONTHLY_FINAL)
        self.ok("GET /get_raw_sales and /get_monthly_sales through nginx: exact rows, June included")
        if self.direct(live_url, "/get_raw_sales") != rows:
            raise CheckFailed("the live replica, asked directly, differs")
        self.state.update(expected=rows)

    def restarted(self) -> None:
        victim = self.state["victim"]
        url = self.replicas[victim][0]
        if self.direct(url, "/get_raw_sales") != self.state["expected"]:
            raise CheckFailed(f"the restarted replica {url} does not serve what was posted while it was down")
        if self.direct(url, "/get_monthly_sales") != MONTHLY_FINAL:
            raise CheckFailed(f"the restarted replica {url} has other monthly rows")
        self.ok(f"the restarted replica {victim + 1} serves every record posted while it was down")


def upstreams(entry: dict) -> str:
    return f"upstreams {', '.join(entry['addrs'])}: {', '.join(entry['statuses'])}"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["balanced", "failover", "restarted"])
    parser.add_argument("--nginx", required=True)
    parser.add_argument("--replica", nargs=2, action="append", metavar=("URL", "PID"), required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--state", required=True)
    args = parser.parse_args()
    run = Run(args)
    run_phase = args.phase
    try:
        getattr(run, run_phase)()
    except CheckFailed as error:
        print(f"FAIL: {error}", file=sys.stderr)
        run.save()
        sys.exit(1)
    except (OSError, urllib.error.URLError) as error:
        print(f"FAIL: {run_phase}: {type(error).__name__}: {error}", file=sys.stderr)
        run.save()
        sys.exit(1)
    run.save()


if __name__ == "__main__":
    main()
