import { join } from 'node:path'
import test from 'ava'
import { DVDLoader, type DVDOptions, InvalidOptionError } from '../lib/index.js'
import { tempDir } from './helpers/tmp.js'

// What becomes of recordings never played is specified in suites/unused.ts, run for every storage.

test('unused-recording options are validated', async (t) => {
  const file = join(tempDir(), 'never.dvd.json')
  const bad: [DVDOptions, RegExp][] = [
    [{ allowUnused: 'no' as unknown as boolean }, /allowUnused must be true or false/],
    [{ dropUnused: 1 as unknown as boolean }, /dropUnused must be true or false/],
    [{ onWarning: 'stderr' as unknown as () => void }, /onWarning must be a function/],
    [
      { dropUnused: true, drop_unused_requests: true } as DVDOptions,
      /option dropUnused is given twice, as dropUnused and as drop_unused_requests; pass only one of them/,
    ],
  ]
  for (const [options, message] of bad) {
    const error = await t.throwsAsync(DVDLoader.open(file, { ...options, recordMode: 'once' }), {
      instanceOf: InvalidOptionError,
    })
    t.regex(error.message, message)
  }
})
