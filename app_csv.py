"""Serve the vegsales API with CSV storage: python app_csv.py [--host] [--port] [--data-dir DIR].

Same as `vegsales serve --backend csv`; see `--help` for every option.
"""

from vegsales.cli import serve_backend

if __name__ == "__main__":
    serve_backend("csv")
