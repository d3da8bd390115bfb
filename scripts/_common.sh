# Shared by scripts/run.sh and scripts/test.sh (sourced, not run).
# Everything the project needs is installed from here, so a fresh machine
# only needs Python 3.11 and, for the tests, root for apt-get.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}

log() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

_apt_updated=""

# apt_install PKG...: install Debian packages when running as root; otherwise
# stop and say what to install (we never call sudo behind someone's back).
apt_install() {
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "$_apt_updated" ]; then
      log "apt-get update"
      apt-get update -qq >/dev/null
      _apt_updated=1
    fi
    log "apt-get install $*"
    apt-get install -y -qq "$@" >/dev/null
  else
    die "missing system packages: $*. Install them first (on Debian/Ubuntu: sudo apt-get install $*)"
  fi
}

have_libmagic() {
  "$PYTHON" -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("magic") else 1)'
}

# The newest PostgreSQL server binaries Debian installed, e.g. /usr/lib/postgresql/15/bin.
pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

# ensure_system_packages [--tests]: libmagic1 always (python-magic loads it);
# with --tests also PostgreSQL, Chromium and redis-server (the integration
# tests start their own on a free port). Only what is missing is installed.
ensure_system_packages() {
  local missing=()
  have_libmagic || missing+=(libmagic1)
  if [ "${1:-}" = "--tests" ]; then
    pg_bindir >/dev/null || missing+=(postgresql)
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
}

# ensure_venv REQUIREMENTS_FILE: create .venv if missing and pip install the
# file, but only when it (or requirements.txt, which it may include) changed
# since the last install, recorded in a stamp file inside .venv.
ensure_venv() {
  local req=$1 stamp digest
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11"
  if [ ! -x "$VENV/bin/python" ]; then
    log "Creating the virtual environment in .venv"
    "$PYTHON" -m venv "$VENV"
  fi
  stamp="$VENV/.installed-$(basename "$req" .txt)"
  digest=$(cat "$ROOT/requirements.txt" "$ROOT/$req" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
    log "Installing Python packages from $req"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/$req"
    echo "$digest" >"$stamp"
  fi
}
