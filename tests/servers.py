from support.servers import *  # noqa: F403 - moved to support/servers.py, shared with bench/
