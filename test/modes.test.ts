import { join } from 'node:path'
import test from 'ava'
import { DVDLoader, InvalidOptionError, resolveMode } from '../lib/index.js'
import { tempDir } from './helpers/tmp.js'

// What record modes do with DVDs is specified in suites/modes.ts, run for every storage.

test('the record mode comes from DVD_RECORD_MODE first, then the option, then CI', (t) => {
  t.is(resolveMode(undefined, {}), 'once')
  t.is(resolveMode(undefined, { CI: 'true' }), 'none')
  t.is(resolveMode('new_episodes', { CI: 'true' }), 'new_episodes')
  t.is(resolveMode('none', { DVD_RECORD_MODE: 'all' }), 'all')
  t.is(resolveMode(undefined, { DVD_RECORD_MODE: 'passthrough', CI: 'true' }), 'passthrough')
  t.is(resolveMode('all', { DVD_RECORD_MODE: '' }), 'all')
})

test('an unknown record mode is refused with the list of modes', async (t) => {
  const file = join(tempDir(), 'x.dvd.json')
  const error = await t.throwsAsync(DVDLoader.open(file, { recordMode: 'sometimes' as 'once' }), {
    instanceOf: InvalidOptionError,
  })
  t.regex(error?.message ?? '', /unknown record mode "sometimes".*once, none, new_episodes, all, passthrough/)
  t.throws(() => resolveMode(undefined, { DVD_RECORD_MODE: 'bogus' }), { message: /DVD_RECORD_MODE/ })
})

test('unknown options are refused, snake_case aliases accepted', async (t) => {
  const file = join(tempDir(), 'opts.dvd.json')
  await t.throwsAsync(DVDLoader.open(file, { recordMod: 'once' } as never), {
    instanceOf: InvalidOptionError,
    message: /unknown option "recordMod"/,
  })
  await t.throwsAsync(DVDLoader.open(file, { recordMode: 'once', matchOn: ['hostname' as 'host'] }), {
    message: /unknown matcher "hostname"/,
  })
  const dvd = await DVDLoader.open(file, { record_mode: 'new_episodes', match_on: ['path'] } as never)
  t.is(dvd.mode, 'new_episodes')
  t.deepEqual(dvd.dvd.settings.matchOn, ['path'])
})
