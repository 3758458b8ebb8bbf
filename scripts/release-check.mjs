#!/usr/bin/env node
/**
 * Release hygiene, run by `.ci/run` (`npm run release:check`) and by the release workflow:
 *
 * - the main package, every `npm/<platform>/package.json` and `native/Cargo.toml` have one version
 *   (semver);
 * - every target of the `napi` config has its platform package, named as the generated loader
 *   (`native/index.js`) requires it, with the `os`/`cpu`/`libc` npm uses to pick it, and no package
 *   is left over;
 * - `optionalDependencies`, when present (the release workflow adds them), are exactly the platform
 *   packages at the main package's version; the committed package.json has none, because npm cannot
 *   lock unpublished packages (see CONTRIBUTING.md, "Releasing");
 * - installing the package runs nothing (no preinstall/install/postinstall script);
 * - CHANGELOG.md has a section for the version.
 *
 * `--tag vX.Y.Z` (the release workflow passes the pushed tag) also checks that the tag names this
 * version and that its CHANGELOG section is dated, not "Unreleased".
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const problems = []
const fail = (message) => problems.push(message)
const readJson = (file) => JSON.parse(readFileSync(join(root, file), 'utf8'))

const args = process.argv.slice(2)
const tagIndex = args.indexOf('--tag')
const tag = tagIndex >= 0 ? args[tagIndex + 1] : undefined
if (tagIndex >= 0 && !tag) fail('--tag needs a value (e.g. v0.1.0)')

/** The napi-rs platform name of each supported Rust target (`<platform>-<arch>[-<abi>]`). */
const TARGETS = {
  'x86_64-unknown-linux-gnu': { dir: 'linux-x64-gnu', os: 'linux', cpu: 'x64', libc: 'glibc' },
  'aarch64-unknown-linux-gnu': { dir: 'linux-arm64-gnu', os: 'linux', cpu: 'arm64', libc: 'glibc' },
  'x86_64-unknown-linux-musl': { dir: 'linux-x64-musl', os: 'linux', cpu: 'x64', libc: 'musl' },
  'aarch64-unknown-linux-musl': { dir: 'linux-arm64-musl', os: 'linux', cpu: 'arm64', libc: 'musl' },
  'x86_64-apple-darwin': { dir: 'darwin-x64', os: 'darwin', cpu: 'x64' },
  'aarch64-apple-darwin': { dir: 'darwin-arm64', os: 'darwin', cpu: 'arm64' },
  'x86_64-pc-windows-msvc': { dir: 'win32-x64-msvc', os: 'win32', cpu: 'x64' },
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/

const main = readJson('package.json')
const version = main.version
if (!SEMVER.test(version ?? '')) fail(`package.json: version ${JSON.stringify(version)} is not semver`)

// native/Cargo.toml: the [package] version.
const cargo = readFileSync(join(root, 'native/Cargo.toml'), 'utf8')
const cargoPackage = /^\[package\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(cargo)?.[1] ?? ''
const cargoVersion = /^version\s*=\s*"([^"]+)"/m.exec(cargoPackage)?.[1]
if (cargoVersion !== version) {
  fail(`native/Cargo.toml: version ${cargoVersion} differs from package.json's ${version}`)
}

// The platform packages.
const binaryName = main.napi?.binaryName
const targets = main.napi?.targets ?? []
if (!binaryName) fail('package.json: napi.binaryName is missing')
if (targets.length === 0) fail('package.json: napi.targets is empty')
const loader = readFileSync(join(root, 'native/index.js'), 'utf8')
const expectedDirs = new Set()
const platformPackages = []
for (const target of targets) {
  const spec = TARGETS[target]
  if (!spec) {
    fail(`package.json: napi target ${target} is not known to scripts/release-check.mjs; add it there`)
    continue
  }
  expectedDirs.add(spec.dir)
  const file = `npm/${spec.dir}/package.json`
  if (!existsSync(join(root, file))) {
    fail(`${file} is missing (npx napi create-npm-dirs creates it)`)
    continue
  }
  const pkg = readJson(file)
  const name = `${main.name}-${spec.dir}`
  const binary = `${binaryName}.${spec.dir}.node`
  platformPackages.push(pkg.name)
  if (pkg.name !== name) fail(`${file}: name ${pkg.name}, expected ${name}`)
  if (pkg.version !== version) fail(`${file}: version ${pkg.version} differs from package.json's ${version}`)
  if (pkg.main !== binary) fail(`${file}: main ${pkg.main}, expected ${binary}`)
  if (JSON.stringify(pkg.files) !== JSON.stringify([binary])) fail(`${file}: files must be ["${binary}"]`)
  if (JSON.stringify(pkg.os) !== JSON.stringify([spec.os])) fail(`${file}: os must be ["${spec.os}"]`)
  if (JSON.stringify(pkg.cpu) !== JSON.stringify([spec.cpu])) fail(`${file}: cpu must be ["${spec.cpu}"]`)
  if (JSON.stringify(pkg.libc) !== JSON.stringify(spec.libc ? [spec.libc] : undefined)) {
    fail(`${file}: libc must be ${spec.libc ? `["${spec.libc}"]` : 'absent'}`)
  }
  if (pkg.license !== main.license) fail(`${file}: license ${pkg.license} differs from ${main.license}`)
  if (!loader.includes(`require('${name}')`) || !loader.includes(`require('./${binary}')`)) {
    fail(`native/index.js does not load ${name} / ./${binary}: regenerate it (npm run build:native)`)
  }
  if (!loader.includes(`!== '${version}'`)) {
    fail(`native/index.js checks platform packages against another version than ${version}: rebuild it`)
  }
}
for (const dir of existsSync(join(root, 'npm')) ? readdirSync(join(root, 'npm')) : []) {
  if (!expectedDirs.has(dir)) fail(`npm/${dir} is not a napi target in package.json: remove it`)
}

// optionalDependencies: absent in the repository, exactly the platform packages when published.
const optional = main.optionalDependencies
if (optional !== undefined) {
  const want = Object.fromEntries(platformPackages.toSorted().map((name) => [name, version]))
  const have = Object.fromEntries(Object.entries(optional).toSorted(([a], [b]) => a.localeCompare(b)))
  if (JSON.stringify(have) !== JSON.stringify(want)) {
    fail(`package.json: optionalDependencies ${JSON.stringify(have)}, expected ${JSON.stringify(want)}`)
  }
}

// Installing the package must not build anything.
for (const script of ['preinstall', 'install', 'postinstall']) {
  if (main.scripts?.[script]) fail(`package.json: a "${script}" script would run on users' machines`)
}

// CHANGELOG.md: a section for this version.
const changelog = existsSync(join(root, 'CHANGELOG.md'))
  ? readFileSync(join(root, 'CHANGELOG.md'), 'utf8')
  : ''
const escaped = version?.replace(/[.+]/g, '\\$&')
const section = new RegExp(`^## \\[${escaped}\\](?: - (.*))?$`, 'm').exec(changelog)
if (!section) fail(`CHANGELOG.md has no "## [${version}]" section`)

if (tag) {
  if (tag !== `v${version}`) fail(`tag ${tag} does not name version ${version} (expected v${version})`)
  if (section && !/^\d{4}-\d{2}-\d{2}$/.test(section[1] ?? '')) {
    fail(`CHANGELOG.md: the ${version} section must be dated (## [${version}] - YYYY-MM-DD) to release it`)
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.error(`release-check: ${problem}`)
  process.exit(1)
}
console.log(
  `release-check: dvd-rw ${version}: package.json, native/Cargo.toml and ${platformPackages.length} platform packages agree` +
    (tag ? `; tag ${tag} matches` : ''),
)
