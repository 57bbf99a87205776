"""Serve the vegsales API with SQLite storage: python app_sql.py [--host] [--port] [--db]."""

import argparse
import os
import sys

from vegsales.api import create_app
from vegsales.server import serve
from vegsales.storage import StorageError
from vegsales.storage.sqlite import SqliteStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("VEGSALES_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("VEGSALES_PORT", "8000")))
    parser.add_argument("--db", default=os.environ.get("VEGSALES_DB", "data/sales.db"))
    args = parser.parse_args()
    try:
        store = SqliteStore(args.db)
    except StorageError as error:
        sys.exit(f"error: {error}")
    serve(create_app(store), args.host, args.port)


if __name__ == "__main__":
    main()
