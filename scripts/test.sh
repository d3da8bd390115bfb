#!/usr/bin/env bash
# `make test`: install what the tests need, then run the whole suite on
# SQLite (browser tests included) and again, without the browser tests, on a
# throwaway PostgreSQL server. Exits non-zero if either run fails.
# Extra arguments go to both pytest runs, e.g. `scripts/test.sh -x`.
set -euo pipefail
. "$(dirname "$0")/_common.sh"
cd "$ROOT"

ensure_system_packages --tests
ensure_venv requirements-dev.txt

export PORTAL_ENV=test
LOGS=$(mktemp -d /tmp/portal-tests.XXXXXX)
PGDIR=""
as_postgres=()

stop_postgres() {
  if [ -n "$PGDIR" ] && [ -d "$PGDIR/data" ]; then
    "${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  [ -n "$PGDIR" ] && rm -rf "$PGDIR"
  rm -rf "$LOGS"
}
trap stop_postgres EXIT

free_port() {
  "$VENV/bin/python" - "$1" <<'PY'
import socket, sys
first = int(sys.argv[1])
for port in range(first, first + 100):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
else:
    sys.exit("no free port")
PY
}

# A private PostgreSQL on loopback: its own data directory, no fsync, gone on exit.
start_postgres() {
  PG_BIN=$(pg_bindir) || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  PGDIR=$(mktemp -d /tmp/portal-pg.XXXXXX)
  if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses to run as root.
    chown postgres:postgres "$PGDIR"
    as_postgres=(runuser -u postgres --)
  fi
  PGPORT=$(free_port 55432)
  "${as_postgres[@]}" "$PG_BIN/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 --no-sync >"$PGDIR/initdb.log" 2>&1 \
    || { cat "$PGDIR/initdb.log" >&2; die "initdb failed"; }
  "${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -o \
    "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$PGDIR/server.log" >&2; die "PostgreSQL did not start"; }
  log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') listening on 127.0.0.1:$PGPORT"
}

results=()
failed=0
total_passed=0
total_failed=0

# run_suite NAME PYTEST_ARGS...: run pytest, keep its output, record a summary line.
run_suite() {
  local name=$1; shift
  local logfile="$LOGS/$(echo "$name" | tr -c 'a-zA-Z0-9' '_').log" start=$SECONDS rc
  log "Tests on $name"
  set +e
  "$VENV/bin/python" -m pytest -n auto --dist loadgroup "$@" 2>&1 | tee "$logfile"
  rc=${PIPESTATUS[0]}
  set -e
  local last passed failed_n errors
  last=$(grep -E '[0-9]+ (passed|failed|error|errors|skipped)|no tests ran' "$logfile" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
  passed=$(grep -oE '[0-9]+ passed' <<<"$last" | cut -d' ' -f1 || true)
  failed_n=$(grep -oE '[0-9]+ failed' <<<"$last" | cut -d' ' -f1 || true)
  errors=$(grep -oE '[0-9]+ errors?' <<<"$last" | cut -d' ' -f1 || true)
  total_passed=$((total_passed + ${passed:-0}))
  total_failed=$((total_failed + ${failed_n:-0} + ${errors:-0}))
  if [ "$rc" -eq 0 ]; then
    results+=("PASS  $name: ${last:-no summary} ($((SECONDS - start))s)")
  else
    # pytest exits 5 when it collected nothing: that is a failure here too.
    results+=("FAIL  $name (pytest exit $rc): ${last:-no summary} ($((SECONDS - start))s)")
    failed=1
    if [ $(( ${failed_n:-0} + ${errors:-0} )) -eq 0 ]; then
      total_failed=$((total_failed + 1))
    fi
  fi
}

run_suite "SQLite (all tests, browser tests in Chromium included)" "$@"

start_postgres
TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/portal_test" \
  run_suite "PostgreSQL (all tests but the browser tests)" -m "not e2e" "$@"

echo
echo "================================ Summary ================================"
printf '%s\n' "${results[@]}"
echo "total: $total_passed passed, $total_failed failed"
exit "$failed"
