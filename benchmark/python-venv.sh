#!/usr/bin/env bash
# Creates benchmark/.venv with Python dvd-rw 0.1.6 for the comparison benchmark (the same pins as
# scripts/python-venv.sh). Idempotent. dvd-rw 0.1.6 declares Python >= 3.12 but runs on 3.11,
# hence --ignore-requires-python.
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv
PINS=(dvd-rw==0.1.6 httpx==0.28.1 pydantic==2.11.7)
ready() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "${PINS[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    if version(name) != wanted:
        sys.exit(1)
import dvd_rw.loader  # noqa: F401
PY
}
ready && exit 0
command -v "${PYTHON:-python3}" >/dev/null || { echo "python-venv: python3 not found" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --ignore-requires-python "${PINS[@]}"
ready || { echo "python-venv: installation in benchmark/$VENV failed" >&2; exit 1; }
echo "python-venv: installed ${PINS[*]} into benchmark/$VENV"
