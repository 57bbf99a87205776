"""See the service work: python demo.py [--url URL] [--token TOKEN]

--url defaults to $VEGSALES_URL, else http://127.0.0.1:8000; --token to $VEGSALES_TOKEN (sent as
Authorization: Bearer, for a service started with VEGSALES_ADMIN_TOKEN).

Empties the store, posts a few records (one of them invalid), then prints what each
endpoint answers. Uses only the standard library.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

RECORDS = [
    {"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 70},
    {"date": "2020-01-27", "vegetable": "tomatto", "kilo_sold": 7},
    {"date": "2020-02-03", "vegetable": "Poire", "kilo_sold": 14.5},
    {"date": "2021-02-29", "vegetable": "Pera", "kilo_sold": 3},
]


def call(url: str, method: str = "GET", body: object = None, token: str | None = None) -> None:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    print(f"{method} {url} -> {status}")
    print(json.dumps(json.loads(payload), indent=2, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("VEGSALES_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("VEGSALES_TOKEN"), help="default: $VEGSALES_TOKEN")
    args = parser.parse_args()
    base, token = args.url.rstrip("/"), args.token
    try:
        call(f"{base}/health")
    except urllib.error.URLError as error:
        sys.exit(f"cannot reach {base}: {error.reason}")
    call(f"{base}/init_database", "POST", token=token)
    call(f"{base}/post_sales", "POST", RECORDS, token=token)
    call(f"{base}/get_raw_sales")
    call(f"{base}/get_monthly_sales?remove_outliers=false")
    call(f"{base}/get_monthly_sales?remove_outliers=true")


if __name__ == "__main__":
    main()
