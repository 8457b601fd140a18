#!/bin/sh
# The speed goals' measure: ../shared/bench/ratio.sh (Tapline against the
# bare axum + sqlx + minijinja program, in one run), with one change to its
# setup: the CSRF token is taken from a page loaded after registering, as a
# browser does, because Tapline binds the token to the session and the
# token of the registration page is refused after it.
#
#   tests/load/ratio.sh [seconds] [rounds] [clients]   (defaults: 8 3 32)
set -eu
cd "$(dirname "$0")/../.."
shared=${BENCH:-../shared/bench}
[ -f "$shared/ratio.sh" ] || { echo "no $shared/ratio.sh (set BENCH=…)" >&2; exit 2; }
cargo build --release --locked -q -p tapline --bin tapline
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$shared/." "$work/"
rm -rf "$work/ceiling/target"
python3 - "$work/setup_tapline.py" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
fix = "csrf = hidden(s.get(base + '/applications').text, 'csrf_token')\nversions = set()"
if fix not in s:
    s = s.replace("versions = set()", fix, 1)
open(p, "w").write(s)
PY
"$work/ratio.sh" . "${1:-8}" "${2:-3}" "${3:-32}"
