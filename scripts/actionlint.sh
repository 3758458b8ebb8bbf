#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint (https://github.com/rhysd/actionlint), built from
# source through the Go module proxy at a pinned version and cached outside the repository
# (ACTIONLINT_CACHE, default ~/.cache/dvd-rw). Fails on any finding. When shellcheck is on PATH,
# actionlint also checks the `run:` scripts with it; otherwise it skips that part.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=v1.7.12
BIN_DIR="${ACTIONLINT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dvd-rw}/actionlint-$VERSION"
ACTIONLINT="$BIN_DIR/actionlint"

if [ ! -x "$ACTIONLINT" ]; then
  command -v go >/dev/null || {
    echo "actionlint: Go is needed to install actionlint $VERSION (go install through the module proxy)" >&2
    exit 1
  }
  echo "actionlint: installing $VERSION into $BIN_DIR"
  GOBIN="$BIN_DIR" GOFLAGS=-buildvcs=false go install "github.com/rhysd/actionlint/cmd/actionlint@$VERSION"
fi

echo "actionlint: $("$ACTIONLINT" -version | head -n 1)"
"$ACTIONLINT" -no-color
echo "actionlint: .github/workflows is clean"
