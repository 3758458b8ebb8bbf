import { join } from 'node:path'
import test from 'ava'
import { DVDLoader, type DVDOptions, InvalidOptionError } from '../lib/index.js'
import { tempDir } from './helpers/tmp.js'

// What reaches a DVD file of secrets is specified in suites/secrets.ts, run for every storage.

test('secret options are validated', async (t) => {
  const file = join(tempDir(), 'never.dvd.json')
  const bad: [DVDOptions, RegExp][] = [
    [{ redactSecrets: 'yes' as unknown as boolean }, /redactSecrets must be true or false/],
    [
      { secretHeaders: 'authorization' as unknown as string[] },
      /secretHeaders must be an array of header names/,
    ],
    [{ secretHeaders: ['bad header'] }, /secretHeaders must be an array of header names/],
    [{ redactSecrets: false, secretHeaders: ['x'] }, /secretHeaders has no effect with redactSecrets: false/],
    [{ filterQueryParameters: 'api_key' as unknown as string[] }, /filterQueryParameters must be an array/],
    [{ filterQueryParameters: [['a', 1]] as unknown as string[] }, /filterQueryParameters must be an array/],
    [
      { filterPostDataParameters: [['a']] as unknown as string[] },
      /filterPostDataParameters must be an array/,
    ],
  ]
  for (const [options, message] of bad) {
    const error = await t.throwsAsync(DVDLoader.open(file, { ...options, recordMode: 'once' }), {
      instanceOf: InvalidOptionError,
    })
    t.regex(error.message, message)
  }
})
