"""The tests' PostgreSQL: hotline/devtools/pgserver.py (shared with `hotline bench replicas`)."""
from hotline.devtools.pgserver import BIN_DIRS, PGServer, find_bin, free_port  # noqa: F401
