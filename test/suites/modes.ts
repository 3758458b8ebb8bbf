/** Record modes, against every storage: what each mode replays, records and saves. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TestFn } from 'ava'
import {
  CannotRecordError,
  DVDLoader,
  DVDNotFoundError,
  type LoadedDVD,
  UnmatchedRequestError,
} from '../../lib/index.js'
import { startServer, type TestServer } from '../helpers/server.js'
import { tempDir } from '../helpers/tmp.js'

import { bodyText, extOf, type Format, savedRecordings } from './format.js'

export function modesSuite(test: TestFn, format: Format): void {
  const ext = extOf(format)

  const get = async (dvd: LoadedDVD, url: string) => {
    const res = await fetch(url, { dispatcher: dvd.dispatcher } as unknown as RequestInit)
    return res.text()
  }

  const causeOf = async (promise: Promise<unknown>): Promise<unknown> => {
    try {
      await promise
    } catch (error) {
      return (error as Error).cause ?? error
    }
    throw new Error('expected a failure')
  }

  /** A DVD file holding one recording of `/counter` ("call 1"), made against `server`. */
  async function recordedCounter(server: TestServer): Promise<string> {
    const file = join(tempDir(), `modes.${ext}`)
    await DVDLoader.use(file, { recordMode: 'once' }, (dvd) => get(dvd, `${server.origin}/counter`))
    return file
  }

  test('once without a file records every request, then saves', async (t) => {
    const server = await startServer()
    const file = join(tempDir(), `once.${ext}`)
    const dvd = await DVDLoader.open(file, { recordMode: 'once' })
    t.false(dvd.fromFile)
    t.is(await get(dvd, `${server.origin}/counter`), 'call 1')
    t.is(await get(dvd, `${server.origin}/counter`), 'call 2')
    t.is(server.hits(), 2)
    t.true(dvd.dirty)
    await dvd.close()
    t.is((await savedRecordings(file)).length, 2)
    await server.close()
  })

  test('once with a file replays and refuses to record with CannotRecordError', async (t) => {
    const server = await startServer()
    const file = await recordedCounter(server)
    const dvd = await DVDLoader.open(file, { recordMode: 'once' })
    t.true(dvd.fromFile)
    t.is(await get(dvd, `${server.origin}/counter`), 'call 1')
    const cause = await causeOf(get(dvd, `${server.origin}/json`))
    t.true(cause instanceof CannotRecordError)
    t.true(cause instanceof UnmatchedRequestError)
    t.is((cause as CannotRecordError).code, 'DVD_ERR_CANNOT_RECORD')
    t.is(server.hits(), 1)
    await dvd.close()
    await server.close()
  })

  test('none replays and fails unmatched requests without touching the network', async (t) => {
    const server = await startServer()
    const file = await recordedCounter(server)
    const before = readFileSync(file)
    const dvd = await DVDLoader.open(file, { recordMode: 'none' })
    t.is(await get(dvd, `${server.origin}/counter`), 'call 1')
    const cause = await causeOf(get(dvd, `${server.origin}/counter`))
    t.true(cause instanceof UnmatchedRequestError)
    t.false(cause instanceof CannotRecordError)
    t.is(server.hits(), 1)
    await dvd.close()
    t.deepEqual(readFileSync(file), before)
    await server.close()
  })

  test('none with a missing file fails at open with DVDNotFoundError naming the file', async (t) => {
    const file = join(tempDir(), `missing.${ext}`)
    const error = await t.throwsAsync(DVDLoader.open(file, { recordMode: 'none' }), {
      instanceOf: DVDNotFoundError,
    })
    t.true(error?.message.includes(file))
    t.regex(
      error!.message,
      /record mode "none" never records\. Record it first \(run with DVD_RECORD_MODE=once\)/,
    )
    t.is((error as DVDNotFoundError).code, 'DVD_ERR_NOT_FOUND')
    t.false(existsSync(file))
  })

  test('new_episodes replays what matches, records the rest, and saves the union', async (t) => {
    const server = await startServer()
    const file = await recordedCounter(server)
    const dvd = await DVDLoader.open(file, { recordMode: 'new_episodes' })
    t.is(await get(dvd, `${server.origin}/counter`), 'call 1')
    t.is(server.hits(), 1)
    t.is(await get(dvd, `${server.origin}/counter`), 'call 2')
    t.true((await get(dvd, `${server.origin}/json`)).includes('"ok":true'))
    t.is(server.hits(), 3)
    await dvd.close()
    const saved = await savedRecordings(file)
    t.deepEqual(
      saved.map(({ request }) => new URL(request.url).pathname),
      ['/counter', '/counter', '/json'],
    )
    await server.close()
  })

  test('new_episodes does not replay a recording made in the same session', async (t) => {
    const server = await startServer()
    const file = join(tempDir(), `episodes.${ext}`)
    const dvd = await DVDLoader.open(file, { recordMode: 'new_episodes' })
    t.is(await get(dvd, `${server.origin}/counter`), 'call 1')
    t.is(await get(dvd, `${server.origin}/counter`), 'call 2')
    await dvd.close({ save: false })
    await server.close()
  })

  test('all goes to the network every time and replaces the file with this run', async (t) => {
    const server = await startServer()
    const file = await recordedCounter(server)
    const dvd = await DVDLoader.open(file, { recordMode: 'all' })
    t.is(await get(dvd, `${server.origin}/counter`), 'call 2')
    t.true((await get(dvd, `${server.origin}/json`)).includes('"ok":true'))
    await dvd.close()
    const saved = await savedRecordings(file)
    t.is(saved.length, 2)
    t.is(bodyText(saved[0]!), 'call 2')
    await server.close()
  })

  test('passthrough sends everything to the network and never writes the file', async (t) => {
    const server = await startServer()
    const file = await recordedCounter(server)
    const before = readFileSync(file)
    const dvd = await DVDLoader.open(file, { recordMode: 'passthrough' })
    t.is(await get(dvd, `${server.origin}/counter`), 'call 2')
    t.is(dvd.count, 0)
    await dvd.close()
    t.deepEqual(readFileSync(file), before)
    await server.close()
  })

  test.serial('DVD_RECORD_MODE in the environment overrides the option of every DVD', async (t) => {
    const server = await startServer()
    const file = await recordedCounter(server)
    process.env.DVD_RECORD_MODE = 'all'
    try {
      const dvd = await DVDLoader.open(file, { recordMode: 'none' })
      t.is(dvd.mode, 'all')
      t.is(await get(dvd, `${server.origin}/counter`), 'call 2')
      await dvd.close()
    } finally {
      delete process.env.DVD_RECORD_MODE
    }
    await server.close()
  })

  test.serial(
    'under CI=true the default mode is none, so a missing DVD fails instead of recording',
    async (t) => {
      const saved = process.env.CI
      process.env.CI = 'true'
      try {
        const dvd = join(tempDir(), `ci.${ext}`)
        const error = await t.throwsAsync(DVDLoader.open(dvd), { instanceOf: DVDNotFoundError })
        // The hint says how to record it, since CI itself never will.
        t.true(
          error!.message.startsWith(`${dvd}: no such DVD. Under CI=true the record mode defaults to "none"`),
        )
        t.regex(error!.message, /run the tests once outside CI \(CI= npm test\) or with DVD_RECORD_MODE=once/)
      } finally {
        if (saved === undefined) delete process.env.CI
        else process.env.CI = saved
      }
    },
  )

  test('a file that existed is not written when nothing new was recorded', async (t) => {
    const server = await startServer()
    const file = await recordedCounter(server)
    // A JSON file with trailing spaces: written again, it would lose them.
    if (format === 'json') writeFileSync(file, `${readFileSync(file, 'utf8')}   `)
    const before = readFileSync(file)
    await DVDLoader.use(file, { recordMode: 'new_episodes' }, (dvd) => get(dvd, `${server.origin}/counter`))
    t.deepEqual(readFileSync(file), before)
    await server.close()
  })
}
