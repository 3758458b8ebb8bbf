#!/usr/bin/env bash
# The committed API reference (docs/api) is what the current TSDoc generates, and generating it
# warns about nothing (TypeDoc runs with treatWarningsAsErrors). After changing a TSDoc comment or
# the public surface, `npm run docs:api` regenerates it; commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."

npm run --silent docs:api
if ! git diff --exit-code --stat -- docs/api; then
  echo "docs/api is out of date: run npm run docs:api and commit the result" >&2
  exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- docs/api)
if [ -n "$untracked" ]; then
  echo "docs/api has pages that are not committed: run npm run docs:api, then git add docs/api" >&2
  echo "$untracked" >&2
  exit 1
fi
echo "docs/api is up to date"
