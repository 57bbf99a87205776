"""Serve the vegsales API with SQLite storage: python app_sql.py [--host] [--port] [--db PATH].

Same as `vegsales serve --backend sqlite`; see `--help` for every option.
"""

from vegsales.cli import serve_backend

if __name__ == "__main__":
    serve_backend("sqlite")
