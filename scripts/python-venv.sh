#!/usr/bin/env bash
# Creates .venv-python/ at the repository root with the Python dvd-rw library, httpx and vcrpy, for the
# Python interop tests (test/python_interop.test.ts) and the vcrpy importer fixture
# (test/fixtures/importers/make-vcrpy.mjs). Idempotent: does nothing when the pinned
# versions are already installed.
#
# dvd-rw 0.1.6 declares Python >= 3.12, but runs on 3.11 (it only needs typing.Unpack), hence
# --ignore-requires-python. Versions are pinned so both sides of the interop tests are reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-python
PYTHON_BIN=${PYTHON:-python3}
PINS=(dvd-rw==0.1.6 httpx==0.28.1 pydantic==2.11.7 vcrpy==9.4.2)

installed() {
  [ -x "$VENV/bin/python" ] &&
    "$VENV/bin/python" - "${PINS[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    try:
        if version(name) != wanted:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
import dvd_rw.loader, httpx, vcr  # noqa: F401  (the library must import, not only be listed)
PY
}

if installed; then
  echo "python-venv: $VENV is ready (${PINS[*]})"
  exit 0
fi

"$PYTHON_BIN" -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is needed"'
[ -x "$VENV/bin/python" ] || "$PYTHON_BIN" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --ignore-requires-python "${PINS[@]}"
installed || { echo "python-venv: installation in $VENV failed" >&2; exit 1; }
echo "python-venv: installed ${PINS[*]} into $VENV"
