"""app_sql.py under an open-file limit: python tests/e2e/nofile_app.py LIMIT [app_sql.py flags].

The limit is set in the server process itself (as `ulimit -n LIMIT` would), before it starts."""

import resource
import sys

from vegsales.cli import serve_backend

if __name__ == "__main__":
    limit = int(sys.argv.pop(1))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    serve_backend("sqlite")
