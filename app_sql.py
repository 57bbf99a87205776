"""Serve the vegsales API with SQLite storage: python app_sql.py [--host] [--port] [--db] [--vocabulary]."""

import argparse
import os
import sys
from pathlib import Path

from vegsales.api import create_app
from vegsales.server import serve
from vegsales.storage import StorageError
from vegsales.storage.sqlite import SqliteStore
from vegsales.vegetables import Vocabulary, VocabularyError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("VEGSALES_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("VEGSALES_PORT", "8000")))
    parser.add_argument("--db", default=os.environ.get("VEGSALES_DB", "data/sales.db"))
    parser.add_argument("--vocabulary", type=Path, default=os.environ.get("VEGSALES_VOCABULARY") or None)
    args = parser.parse_args()
    try:
        vocabulary = Vocabulary.load(args.vocabulary)
        store = SqliteStore(args.db)
    except (StorageError, VocabularyError) as error:
        sys.exit(f"error: {error}")
    serve(create_app(store, vocabulary), args.host, args.port)


if __name__ == "__main__":
    main()
