/**
 * Hostile JSON DVDs: seeded mutations of valid files (truncations, type swaps, huge numbers, deep
 * nesting, invalid base64, duplicate keys, stray bytes) each read, when the mutation kept the file
 * valid, or fail with a DVDFormatError naming the file and the place, in both JSON readers. The
 * 10,000-mutation run is `node scripts/mutate-readers.mjs`.
 */
import { join } from 'node:path'
import test from 'ava'
import { DVDFormatError } from '../lib/errors.js'
import { invalidJsonAt } from '../lib/formats/json_syntax.js'
import { prng } from './helpers/prng.js'
import { mutate, READERS, runMutations, writeHugeBody } from './helpers/reader_mutations.js'
import { tempDir } from './helpers/tmp.js'

test('250 seeded mutations per JSON reader each read or fail with a DVDFormatError naming the file and the place', async (t) => {
  const tallies = await runMutations({ count: 250, seed: 26, dir: tempDir() })
  for (const tally of tallies) {
    t.deepEqual(tally.findings, [], tally.reader)
    t.is(tally.total, 250)
    // Most mutations break the file; a few keep it valid (a duplicate key's last value is valid).
    t.true(tally.read < tally.total / 2, `${tally.reader}: ${tally.read} of ${tally.total} still read`)
  }
})

test('the syntax scanner that names the place agrees with JSON.parse on which texts are valid', (t) => {
  const rng = prng(7)
  const [seed] = READERS[0]!.seeds()
  let disagreements = 0
  for (let i = 0; i < 1000; i++) {
    const { text } = mutate(rng, seed!)
    let valid = true
    try {
      JSON.parse(text)
    } catch {
      valid = false
    }
    if (valid !== (invalidJsonAt(text) === -1)) disagreements++
  }
  t.is(disagreements, 0)
})

test('a 100 MB response body with one character outside base64 fails at its place in both readers', async (t) => {
  t.timeout(120_000)
  const file = join(tempDir(), 'huge.dvd.json')
  writeHugeBody(file, 100)
  for (const reader of READERS) {
    const error = await t.throwsAsync(reader.read(file), { instanceOf: DVDFormatError }, reader.name)
    t.is(error?.file, file)
    t.is(error?.location, '[0][1].body', reader.name)
    t.is(error?.problem, 'invalid base64', reader.name)
  }
})
