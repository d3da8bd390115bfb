#!/usr/bin/env bash
# While the schema is unreleased, keep ONE initial migration generated from the
# models. Run after changing a model; never hand-edit the generated file.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
tmp=$(mktemp -d)
# Hand-written 0002+ migrations stay, but aside while 0001 is generated: they
# name 0001 as their parent, which does not exist meanwhile.
mkdir "$tmp/later"
find migrations/versions -maxdepth 1 -name '*.py' ! -name '0001_*' -exec mv {} "$tmp/later/" \;
put_back() { find "$tmp/later" -name '*.py' -exec mv {} migrations/versions/ \; ; rm -rf "$tmp"; }
trap put_back EXIT
rm -f migrations/versions/0001_*.py
PORTAL_INSTANCE_DIR="$tmp" DATABASE_URL="sqlite:///$tmp/regen.db" flask --app wsgi db migrate -m "initial schema" --rev-id 0001 >/dev/null 2>&1
put_back
trap - EXIT
ls migrations/versions/
