#!/usr/bin/env bash
# `make run`: set up on a fresh machine, migrate, load the demo data (once)
# and serve the portal on http://localhost:5000.
set -euo pipefail
. "$(dirname "$0")/_common.sh"
cd "$ROOT"

ensure_system_packages
ensure_venv requirements.txt

export PORTAL_ENV=${PORTAL_ENV:-development}
# The SQLite database and uploaded documents live here by default.
mkdir -p "${PORTAL_INSTANCE_DIR:-$ROOT/instance}"

flask=("$VENV/bin/flask" --app wsgi)
log "Applying database migrations"
"${flask[@]}" db upgrade
log "Loading demo data"
"${flask[@]}" demo-data

port=${PORT:-5000}
log "Serving the portal on http://localhost:$port (PORTAL_ENV=$PORTAL_ENV); press Ctrl+C to stop"
if [ "$PORTAL_ENV" = development ]; then
  log "Emails are kept in the outbox: http://localhost:$port/dev/outbox"
fi
exec "${flask[@]}" run --host "${HOST:-127.0.0.1}" --port "$port"
