#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on a free local port, for trying the PostgreSQL catalog by hand.
#   scripts/postgres.sh start      prints the catalog URL and the cluster's data folder
#   scripts/postgres.sh stop DIR   stops that cluster and removes its folder
# The tests start their own (tests/_postgres.py, the postgres_url fixture); this is the same code.
# Installs Debian's postgresql package when initdb/pg_ctl are missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
exec "$PY" tests/_postgres.py "$@"
