/**
 * Every error code dvd-rw can raise has its entry in docs/TROUBLESHOOTING.md, and every error's
 * message ends with a pointer to that entry.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { DVDError, DVDLoader } from '../lib/index.js'
import { readDoc, repoRoot } from './helpers/markdown.js'
import { tempDir } from './helpers/tmp.js'

/** Every `DVD_ERR_*` code written in the sources of lib/ and of the native addon's errors. */
function codesInSources(): Set<string> {
  const sources = readdirSync(join(repoRoot, 'lib'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join('lib', file))
  sources.push(join('native', 'src', 'error.rs'))
  const codes = new Set<string>()
  for (const file of sources) {
    for (const [code] of readFileSync(join(repoRoot, file), 'utf8').matchAll(/DVD_ERR_[A-Z_]*[A-Z]/g)) {
      codes.add(code)
    }
  }
  return codes
}

function entriesInGuide(): Set<string> {
  const guide = readDoc(join('docs', 'TROUBLESHOOTING.md'))
  return new Set([...guide.matchAll(/^## (DVD_ERR_[A-Z_]+)$/gm)].map((m) => m[1]!))
}

test('every error code in the sources has an entry in docs/TROUBLESHOOTING.md', (t) => {
  const entries = entriesInGuide()
  const missing = [...codesInSources()].filter((code) => !entries.has(code)).sort()
  t.deepEqual(missing, [], 'add a "## CODE" entry: what it means, the usual cause, the fix')
})

test('docs/TROUBLESHOOTING.md has no entry for a code the sources no longer raise', (t) => {
  const codes = codesInSources()
  t.deepEqual(
    [...entriesInGuide()].filter((code) => !codes.has(code)),
    [],
  )
})

test('an error message ends with the pointer to its troubleshooting entry', async (t) => {
  const error = await t.throwsAsync(
    DVDLoader.open(join(tempDir(), 'x.dvd.json'), { recordMode: 'nope' as never }),
    {
      instanceOf: DVDError,
    },
  )
  t.is(error.code, 'DVD_ERR_OPTION')
  t.true(error.message.endsWith(' (see Troubleshooting: DVD_ERR_OPTION)'), error.message)
})

test('a DVD that cannot be read says so, then points to the entry of its code', async (t) => {
  const file = join(tempDir(), 'broken.dvd.json')
  writeFileSync(file, '[[{"method": "GET"}')
  const error = await t.throwsAsync(DVDLoader.open(file), { instanceOf: DVDError })
  t.is(error.code, 'DVD_ERR_FORMAT')
  t.regex(
    error.message,
    /broken\.dvd\.json: .*fix or delete it to record it again\. \(see Troubleshooting: DVD_ERR_FORMAT\)$/,
  )
})
