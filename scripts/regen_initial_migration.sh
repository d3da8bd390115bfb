#!/usr/bin/env bash
# While the schema is unreleased, keep ONE initial migration generated from the
# models. Run after changing a model; never hand-edit the generated file.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
tmp=$(mktemp -d)
rm -f migrations/versions/0001_*.py  # hand-written 0002+ migrations stay
PORTAL_INSTANCE_DIR="$tmp" DATABASE_URL="sqlite:///$tmp/regen.db" flask --app wsgi db migrate -m "initial schema" --rev-id 0001 >/dev/null 2>&1
rm -rf "$tmp"
ls migrations/versions/
