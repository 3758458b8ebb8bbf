#!/usr/bin/env bash
# The npm package as users install it: `npm pack`, then install the tarball into a fresh project
# outside the repository, with cargo and rustc off PATH, and use it there:
#
# - the tarball holds exactly what users need (dist/lib JS and .d.ts, bin/, the native loader,
#   README.md, LICENSE) and installing it runs no script;
# - `import('dvd-rw')`: DVDLoader records a JSON DVD (mode `all`) from a local server, closes
#   (saves) it, and replays it offline;
# - no native binary ships in the tarball and no platform package is published, so binary DVDs go
#   through the TypeScript reader: a binary DVD written beforehand by the repository's build
#   replays, after the one-line notice, and writing one fails with DVD_ERR_UNSUPPORTED;
# - `tsc --noEmit` on a consumer .ts file typed from 'dvd-rw' and 'dvd-rw/ava';
# - `npx dvd-convert --help` exits 0, and `inspect` reads the binary DVD.
#
# Needs the repository's dependencies and native addon built (npm ci) and the npm registry (the
# tarball's dependencies). Builds the TypeScript first.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dvd-rw-pack-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() {
  echo "pack-check: FAIL: $*" >&2
  exit 1
}

echo "pack-check: building the TypeScript"
npm run --silent build

# --ignore-scripts: `prepare` would rebuild the addon with cargo; dist/ was just built.
npm pack --ignore-scripts --json --pack-destination "$WORK" >"$WORK/pack.json"
TARBALL="$WORK/$(node -p "require('$WORK/pack.json')[0].filename")"
[ -f "$TARBALL" ] || fail "npm pack made no tarball"
echo "pack-check: $(basename "$TARBALL"), $(du -k "$TARBALL" | cut -f1) KiB"

# --- the file list
node - "$WORK/pack.json" <<'JS'
const { existsSync } = require('node:fs')
const files = require(process.argv[2])[0].files.map((f) => f.path).sort()
const allowed = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^bin\/dvd-convert\.js$/,
  /^native\/(index\.js|index\.d\.ts|package\.json)$/,
  /^dist\/lib\/(.+)\.(js|d\.ts)$/,
  /^dist\/cjs\/(.+)\.js$/,
  /^dist\/cjs\/package\.json$/,
]
const required = [
  'package.json', 'README.md', 'LICENSE', 'bin/dvd-convert.js', 'native/index.js', 'native/index.d.ts',
  'native/package.json', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/cli.js',
  'dist/lib/testing/ava.js', 'dist/lib/testing/ava.d.ts', 'dist/lib/testing/node_test.js',
  'dist/lib/testing/vitest.js', 'dist/lib/testing/jest.js', 'dist/cjs/package.json', 'dist/cjs/index.js',
  'dist/cjs/testing/jest.js', 'dist/cjs/testing/node_test.js',
]
const problems = []
for (const file of files) {
  const match = allowed.find((re) => re.test(file))
  if (!match) problems.push(`unexpected file in the package: ${file}`)
  // Every compiled file has its source: no leftovers of deleted modules in dist/.
  const compiled = /^dist\/(?:lib|cjs)\/(.+)\.(?:js|d\.ts)$/.exec(file)
  if (compiled && !existsSync(`lib/${compiled[1]}.ts`)) problems.push(`${file} has no lib/${compiled[1]}.ts`)
}
for (const file of required) if (!files.includes(file)) problems.push(`missing from the package: ${file}`)
if (problems.length) {
  console.error(problems.map((p) => `pack-check: FAIL: ${p}`).join('\n'))
  process.exit(1)
}
console.log(`pack-check: ${files.length} files, all expected`)
JS

# --- a binary DVD written by the repository's build (the native addon), for the fallback to read
mkdir -p "$WORK/fixtures"
BINARY_URL=$(node --input-type=module - "$WORK/fixtures/prebuilt.dvd.lz4" "$REPO/dist/lib/index.js" <<'JS'
import { createServer } from 'node:http'
import { pathToFileURL } from 'node:url'
const [file, entry] = process.argv.slice(2)
const { DVDLoader } = await import(pathToFileURL(entry).href)
const server = createServer((req, res) => res.end(`binary ${req.url}`))
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const url = `http://127.0.0.1:${server.address().port}/prebuilt?x=1`
const dvd = await DVDLoader.open(file, { recordMode: 'all' })
if (dvd.format !== 'binary') throw new Error(`expected a binary DVD, got ${dvd.format}`)
await (await fetch(url, { dispatcher: dvd.dispatcher })).text()
await dvd.close()
server.close()
console.log(url)
JS
)

# --- a fresh project outside the repository, without cargo or rustc on PATH
STRIPPED_PATH=
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  [ -n "$dir" ] || continue
  [ -x "$dir/cargo" ] || [ -x "$dir/rustc" ] || [ -x "$dir/rustup" ] && continue
  STRIPPED_PATH="${STRIPPED_PATH:+$STRIPPED_PATH:}$dir"
done
PROJECT="$WORK/consumer"
mkdir -p "$PROJECT"
cd "$PROJECT"
export PATH="$STRIPPED_PATH"
export CARGO=/nonexistent RUSTC=/nonexistent
unset DVD_RW_NATIVE DVD_RECORD_MODE NAPI_RS_NATIVE_LIBRARY_PATH
command -v cargo >/dev/null && fail "cargo is still on PATH"
command -v node >/dev/null || fail "node is not on the stripped PATH"

AVA_VERSION=$(node -p "require('$REPO/node_modules/ava/package.json').version")
TYPES_NODE_VERSION=$(node -p "require('$REPO/node_modules/@types/node/package.json').version")
cat >package.json <<'JSON'
{ "name": "dvd-rw-consumer", "version": "1.0.0", "private": true, "type": "module" }
JSON
echo "pack-check: npm install <tarball> into $PROJECT (cargo off PATH)"
npm install --no-audit --no-fund --prefer-offline --loglevel=error --foreground-scripts \
  "$TARBALL" "ava@$AVA_VERSION" "@types/node@$TYPES_NODE_VERSION" >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log" >&2; fail "npm install of the tarball failed"; }
INSTALLED=node_modules/dvd-rw
[ -f "$INSTALLED/package.json" ] || fail "dvd-rw is not installed"
node -e "
  const s = require('./$INSTALLED/package.json').scripts ?? {}
  const bad = ['preinstall', 'install', 'postinstall'].filter((k) => s[k])
  if (bad.length) { console.error('pack-check: FAIL: install scripts in the package: ' + bad); process.exit(1) }
"
ls "$INSTALLED"/native/*.node >/dev/null 2>&1 && fail "a .node binary was installed with the package"
[ -d "$INSTALLED/native/target" ] && fail "native/target was installed with the package"

# --- JSON DVDs, the binary fallback
cat >consumer.mjs <<'JS'
import { strict as assert } from 'node:assert'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const m = await import('dvd-rw')
const { DVDLoader, DVDError } = m
assert.equal(typeof DVDLoader.open, 'function', 'DVDLoader.open')
const dir = mkdtempSync(join(tmpdir(), 'dvd-rw-consumer-'))
const [prebuilt, prebuiltUrl] = process.argv.slice(2)

const server = createServer((req, res) => res.end(`hello ${req.url}`))
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const origin = `http://127.0.0.1:${server.address().port}`

// JSON: record in mode `all`, close (saves), replay offline.
const file = join(dir, 'users.dvd.json')
const dvd = await DVDLoader.open(file, { recordMode: 'all' })
assert.equal(dvd.mode, 'all')
const body = await (await fetch(`${origin}/users/1`, { dispatcher: dvd.dispatcher })).text()
assert.equal(body, 'hello /users/1')
await dvd.close()
assert.ok(existsSync(file), 'the JSON DVD was saved')
assert.equal(JSON.parse(readFileSync(file, 'utf8')).length, 1)
server.close()
const replay = await DVDLoader.open(file, { recordMode: 'none' })
assert.equal(await (await fetch(`${origin}/users/1`, { dispatcher: replay.dispatcher })).text(), body)
await replay.close()
console.log('pack-check: JSON DVD recorded (mode all), saved and replayed')

// Binary, read: the DVD written by the repository's native build, through the TypeScript reader.
const bin = await DVDLoader.open(prebuilt, { recordMode: 'none' })
assert.equal(bin.format, 'binary')
assert.equal(bin.count, 1)
const text = await (await fetch(prebuiltUrl, { dispatcher: bin.dispatcher })).text()
assert.equal(text, 'binary /prebuilt?x=1')
await bin.close()
console.log('pack-check: binary DVD written by the native build replayed through the TypeScript reader')

// Binary, write: refused with DVD_ERR_UNSUPPORTED.
const server2 = createServer((req, res) => res.end('x'))
await new Promise((resolve) => server2.listen(0, '127.0.0.1', resolve))
const out = join(dir, 'new.dvd.lz4')
let error
try {
  const w = await DVDLoader.open(out, { recordMode: 'all' })
  await (await fetch(`http://127.0.0.1:${server2.address().port}/w`, { dispatcher: w.dispatcher })).text()
  await w.close()
} catch (e) {
  error = e
}
server2.close()
assert.ok(error, 'writing a binary DVD without the addon must fail')
assert.ok(error instanceof DVDError, `a DVDError, got ${error}`)
assert.equal(error.code, 'DVD_ERR_UNSUPPORTED')
assert.match(error.message, /writing binary DVDs needs the native addon/)
assert.ok(!existsSync(out), 'no binary DVD was written')
console.log(`pack-check: writing a binary DVD fails: ${error.message.split('\n')[0]}`)
JS
TMPDIR="$WORK" node consumer.mjs "$WORK/fixtures/prebuilt.dvd.lz4" "$BINARY_URL" 2>"$WORK/consumer.err" ||
  { cat "$WORK/consumer.err" >&2; fail "the consumer script failed"; }
NOTICES=$(grep -c '^dvd-rw: native addon not available' "$WORK/consumer.err" || true)
[ "$NOTICES" = 1 ] || { cat "$WORK/consumer.err" >&2; fail "expected the fallback notice once on stderr, got $NOTICES"; }
echo "pack-check: fallback notice: $(grep '^dvd-rw: native addon not available' "$WORK/consumer.err" | cut -c1-100)…"

# --- CommonJS consumers (Jest's default module loader): require() of the package and its Jest helper
cat >consumer.cjs <<'JS'
const { strict: assert } = require('node:assert')
const { existsSync, mkdtempSync } = require('node:fs')
const { createServer } = require('node:http')
const { tmpdir } = require('node:os')
const { join } = require('node:path')
const { DVDLoader } = require('dvd-rw')
const jest = require('dvd-rw/jest')
assert.equal(typeof jest.useDVD, 'function')
assert.throws(() => jest.useDVD(), /needs the Jest globals/)
async function main() {
  const server = createServer((req, res) => res.end(`cjs ${req.url}`))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${server.address().port}/cjs`
  const file = join(mkdtempSync(join(tmpdir(), 'dvd-rw-cjs-')), 'cjs.dvd.json')
  await DVDLoader.use(file, { recordMode: 'all' }, async (dvd) => {
    assert.equal(await (await dvd.fetch(url)).text(), 'cjs /cjs')
  })
  server.close()
  assert.ok(existsSync(file))
  await DVDLoader.use(file, { recordMode: 'none' }, async (dvd) => {
    assert.equal(await (await dvd.fetch(url)).text(), 'cjs /cjs')
  })
  console.log('pack-check: require("dvd-rw") recorded and replayed a JSON DVD; require("dvd-rw/jest") loads')
}
main().catch((error) => {
  console.error(error)
  process.exit(1)
})
JS
TMPDIR="$WORK" node consumer.cjs || fail "the CommonJS consumer failed"

# --- types
cat >consumer.ts <<'TS'
import anyTest, { type TestFn } from 'ava'
import { type DVDOptions, DVDLoader, type LoadedDVD, type RecordMode, UnmatchedRequestError } from 'dvd-rw'
import { type DVDContext, useDVD } from 'dvd-rw/ava'

const mode: RecordMode = 'none'
const options: DVDOptions = { recordMode: mode, matchOn: ['method', 'path'], allowPlaybackRepeats: true }
export async function replay(path: string): Promise<number> {
  const dvd: LoadedDVD = await DVDLoader.open(path, options)
  try {
    // The cast as in the repository's tests: @types/node types fetch with its own undici-types.
    const res = await fetch('https://example.com/', { dispatcher: dvd.dispatcher } as unknown as RequestInit)
    return res.status
  } catch (error) {
    if (error instanceof UnmatchedRequestError) return -1
    throw error
  } finally {
    await dvd.close()
  }
}
const test: TestFn<DVDContext> = useDVD(anyTest as TestFn<DVDContext>)
export { test }
TS
cat >tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2023", "ESNext.Disposable"],
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": false,
    "types": ["node"]
  },
  "files": ["consumer.ts"]
}
JSON
node "$REPO/node_modules/typescript/bin/tsc" -p tsconfig.json || fail "tsc on a consumer of the package's types"
echo "pack-check: tsc --noEmit on a consumer of 'dvd-rw' and 'dvd-rw/ava' types passed"

# --- the CLI
npx --no-install dvd-convert --help >"$WORK/help.txt" || fail "npx dvd-convert --help exited $?"
grep -q json-to-bin "$WORK/help.txt" || fail "dvd-convert --help does not list json-to-bin"
npx --no-install dvd-convert inspect "$WORK/fixtures/prebuilt.dvd.lz4" >/dev/null 2>"$WORK/inspect.err" ||
  { cat "$WORK/inspect.err" >&2; fail "dvd-convert inspect of a binary DVD failed"; }
echo "pack-check: npx dvd-convert --help and inspect work"
echo "pack-check: OK"
