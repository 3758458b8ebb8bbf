/** Recordings never played: warnings, errors, pruning and reports, against every storage. */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { TestFn } from 'ava'
import { DVDLoader, type DVDOptions, type LoadedDVD, UnusedRecordingsError } from '../../lib/index.js'
import { startServer } from '../helpers/server.js'
import { tempDir } from '../helpers/tmp.js'
import { extOf, type Format, savedRecordings } from './format.js'

export function unusedSuite(test: TestFn, format: Format): void {
  const ext = extOf(format)

  const get = async (dvd: LoadedDVD, url: string) => {
    const res = await fetch(url, { dispatcher: dvd.dispatcher } as unknown as RequestInit)
    return res.text()
  }

  /** Records `paths` into a new DVD and returns its file and the (running) server. */
  async function recorded(paths: string[]) {
    const server = await startServer()
    const file = join(tempDir(), `unused.${ext}`)
    const rec = await DVDLoader.open(file, { recordMode: 'once' })
    for (const path of paths) await get(rec, server.origin + path)
    await rec.close()
    return { server, file }
  }

  const PATHS = ['/json?a=1', '/json?a=2', '/bin', '/empty']

  test('close() warns once, one line per recording never played', async (t) => {
    const { server, file } = await recorded(PATHS)
    await server.close()
    const warnings: string[] = []
    const play = await DVDLoader.open(file, { recordMode: 'none', onWarning: (m) => warnings.push(m) })
    await get(play, `${server.origin}/json?a=2`)
    await play.close()
    t.is(warnings.length, 1)
    t.deepEqual(warnings[0]!.split('\n'), [
      `dvd-rw: 3 recordings in ${file} were never played:`,
      `  #0 GET ${server.origin}/json?a=1`,
      `  #2 GET ${server.origin}/bin`,
      `  #3 GET ${server.origin}/empty`,
      '  To prune them from the file, open it with dropUnused: true and run with DVD_RECORD_MODE=new_episodes.',
    ])
  })

  test('no warning when every recording was played, nor when recording from scratch', async (t) => {
    const warnings: string[] = []
    const server = await startServer()
    const file = join(tempDir(), `all.${ext}`)
    const rec = await DVDLoader.open(file, { recordMode: 'once', onWarning: (m) => warnings.push(m) })
    await get(rec, `${server.origin}/json`)
    await rec.close()
    await server.close()
    const play = await DVDLoader.open(file, { recordMode: 'once', onWarning: (m) => warnings.push(m) })
    await get(play, `${server.origin}/json`)
    await play.close()
    t.deepEqual(warnings, [])
  })

  test('the warning lists at most 10 recordings and counts the rest', async (t) => {
    const paths = Array.from({ length: 25 }, (_, i) => `/json?i=${i}`)
    const { server, file } = await recorded(paths)
    await server.close()
    const warnings: string[] = []
    const play = await DVDLoader.open(file, { recordMode: 'none', onWarning: (m) => warnings.push(m) })
    await play.close()
    const lines = warnings[0]!.split('\n')
    t.is(lines.length, 13)
    t.regex(lines[0]!, /25 recordings .* never played/)
    t.is(lines[11], '  … and 15 more')
  })

  test('the default warning is a Node process warning, which Node prints on stderr', async (t) => {
    const { server, file } = await recorded(['/json'])
    await server.close()
    // In a process of its own, so that what Node prints is seen here and not in the test output.
    const index = new URL('../../lib/index.js', import.meta.url).href
    const script = `
      const { DVDLoader } = await import(${JSON.stringify(index)})
      process.on('warning', (w) => console.log(JSON.stringify({ name: w.name, code: w.code })))
      const play = await DVDLoader.open(${JSON.stringify(file)}, { recordMode: 'none' })
      await play.close()
    `
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    t.is(child.status, 0, child.stderr)
    t.deepEqual(JSON.parse(child.stdout), { name: 'DVDUnusedRecordingsWarning', code: 'DVD_WARN_UNUSED' })
    t.regex(
      child.stderr,
      /\[DVD_WARN_UNUSED\] DVDUnusedRecordingsWarning: dvd-rw: 1 recording in .* was never played:\n {2}#0 GET /,
    )
    t.true(child.stderr.includes(file))
  })

  test('allowUnused: false makes close() throw UnusedRecordingsError after saving', async (t) => {
    const { server, file } = await recorded(['/json?a=1', '/bin'])
    const play = await DVDLoader.open(file, { recordMode: 'new_episodes', allowUnused: false })
    await get(play, `${server.origin}/json?a=1`)
    await get(play, `${server.origin}/json?new=1`) // recorded: the file must still be saved
    const error = await t.throwsAsync(play.close(), { instanceOf: UnusedRecordingsError })
    t.is(error.code, 'DVD_ERR_UNUSED')
    t.is(error.file, file)
    t.is(error.count, 1)
    t.deepEqual(error.unused, [{ index: 1, request: `GET ${server.origin}/bin` }])
    t.true(error.message.includes(file))
    t.true(error.message.includes(`GET ${server.origin}/bin`))
    await server.close()
    const reopened = await DVDLoader.open(file, { recordMode: 'none', onWarning: () => {} })
    t.is(reopened.count, 3)
    await reopened.close()
  })

  test('allowUnused: false passes when every recording was played; a failed scope is not checked', async (t) => {
    const { server, file } = await recorded(['/json', '/bin'])
    await server.close()
    const options: DVDOptions = { recordMode: 'none', allowUnused: false }
    await t.notThrowsAsync(
      DVDLoader.use(file, options, async (dvd) => {
        await get(dvd, `${server.origin}/json`)
        await get(dvd, `${server.origin}/bin`)
      }),
    )
    // The scope's own error reaches the caller, not an UnusedRecordingsError.
    await t.throwsAsync(
      DVDLoader.use(file, options, () => {
        throw new Error('test failed')
      }),
      { message: 'test failed' },
    )
    await t.throwsAsync(
      DVDLoader.use(file, options, () => {}),
      { instanceOf: UnusedRecordingsError },
    )
  })

  test('dropUnused leaves recordings never played out of the re-saved file', async (t) => {
    const { server, file } = await recorded(['/json?a=1', '/bin', '/json?a=2', '/empty'])
    const warnings: string[] = []
    const play = await DVDLoader.open(file, {
      recordMode: 'new_episodes',
      drop_unused_requests: true,
      onWarning: (m) => warnings.push(m),
    } as DVDOptions)
    await get(play, `${server.origin}/json?a=2`)
    await get(play, `${server.origin}/json?new=1`)
    await play.close()
    t.regex(warnings[0]!, /3 recordings .* never played \(left out of the saved file\)/)
    await server.close()
    const reopened = await DVDLoader.open(file, { recordMode: 'none', allowUnused: false })
    t.deepEqual(
      [...reopened.dvd.recordings()].map((r) => r.request.url),
      [`${server.origin}/json?a=2`, `${server.origin}/json?new=1`],
    )
    await get(reopened, `${server.origin}/json?a=2`)
    await get(reopened, `${server.origin}/json?new=1`)
    await reopened.close()
  })

  test('dropUnused prunes in new_episodes even when nothing new was recorded; never in once or none', async (t) => {
    const { server, file } = await recorded(['/json?a=1', '/bin'])
    await server.close()
    const before = readFileSync(file)
    for (const recordMode of ['once', 'none'] as const) {
      const play = await DVDLoader.open(file, { recordMode, dropUnused: true, onWarning: () => {} })
      await get(play, `${server.origin}/bin`)
      await play.close()
      t.deepEqual(readFileSync(file), before)
    }
    const play = await DVDLoader.open(file, {
      recordMode: 'new_episodes',
      dropUnused: true,
      onWarning: () => {},
    })
    await get(play, `${server.origin}/bin`)
    await play.close()
    const after = await savedRecordings(file)
    t.deepEqual(
      after.map((r) => r.request.url),
      [`${server.origin}/bin`],
    )
  })

  test('without dropUnused, new_episodes keeps every recording', async (t) => {
    const { server, file } = await recorded(['/json?a=1', '/bin'])
    const play = await DVDLoader.open(file, { recordMode: 'new_episodes', onWarning: () => {} })
    await get(play, `${server.origin}/json?new=1`)
    await play.close()
    await server.close()
    t.is((await savedRecordings(file)).length, 3)
  })

  test('report() says how often each recording played, and is JSON-serializable', async (t) => {
    const { server, file } = await recorded(['/json?a=1', '/json?a=1', '/bin'])
    const play = await DVDLoader.open(file, {
      recordMode: 'new_episodes',
      allowPlaybackRepeats: true,
      onWarning: () => {},
    })
    await get(play, `${server.origin}/json?a=1`)
    await get(play, `${server.origin}/json?a=1`)
    await get(play, `${server.origin}/json?a=1`) // repeats the last one
    await get(play, `${server.origin}/empty`) // recorded now
    const report = play.report()
    await play.close()
    await server.close()
    t.deepEqual(JSON.parse(JSON.stringify(report)), {
      file,
      mode: 'new_episodes',
      recordings: [
        { index: 0, method: 'GET', url: `${server.origin}/json?a=1`, played: 1 },
        { index: 1, method: 'GET', url: `${server.origin}/json?a=1`, played: 2 },
        { index: 2, method: 'GET', url: `${server.origin}/bin`, played: 0 },
        { index: 3, method: 'GET', url: `${server.origin}/empty`, played: 1 },
      ],
    })
    t.true(existsSync(file) && statSync(file).size > 0)
  })
}
