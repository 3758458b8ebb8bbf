#!/usr/bin/env node
/**
 * Release workflow only: lists every platform package (`npm/<platform>/package.json`) in the main
 * package's `optionalDependencies`, at the main package's version, just before `npm publish`.
 *
 * The committed package.json has no `optionalDependencies`: the platform packages exist on the
 * registry only once a release has published them, and npm cannot lock (so `npm ci` cannot install)
 * a dependency the registry does not have. `npm run release:check` verifies the result.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const file = join(root, 'package.json')
const main = JSON.parse(readFileSync(file, 'utf8'))
const optionalDependencies = {}
for (const dir of readdirSync(join(root, 'npm')).toSorted()) {
  const pkg = JSON.parse(readFileSync(join(root, 'npm', dir, 'package.json'), 'utf8'))
  optionalDependencies[pkg.name] = main.version
}
main.optionalDependencies = optionalDependencies
writeFileSync(file, `${JSON.stringify(main, null, 2)}\n`)
console.log(`release-optional-deps: ${Object.keys(optionalDependencies).join(', ')} @ ${main.version}`)
