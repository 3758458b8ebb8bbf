/**
 * What the test-runner helpers share: DVD file names and places, and the lazily opened per-test DVD.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import test from 'ava'
import { request } from 'undici'
import { DVDNotFoundError, UnmatchedRequestError } from '../lib/index.js'
import { dvdFileName, dvdPathFor, TestDVD } from '../lib/testing/common.js'
import { closedPort, startServer } from './helpers/server.js'
import { startStreamServer } from './helpers/stream_server.js'
import { tempDir } from './helpers/tmp.js'
import { fetchChunks } from './suites/streams.js'

test('DVD file names are a readable slug plus a hash of the exact title', (t) => {
  t.regex(dvdFileName('Lists users: page 2 (ok)'), /^lists-users-page-2-ok-[0-9a-f]{8}\.dvd\.json$/)
  t.is(dvdFileName('Lists users'), dvdFileName('Lists users'))
  // Titles with the same slug still get different files.
  t.not(dvdFileName('a b'), dvdFileName('a-b'))
  t.not(dvdFileName('A b'), dvdFileName('a b'))
  t.regex(dvdFileName('Café über'), /^cafe-uber-[0-9a-f]{8}\.dvd\.json$/)
  t.regex(dvdFileName('日本語'), /^test-[0-9a-f]{8}\.dvd\.json$/)
  t.regex(dvdFileName('x'.repeat(500)), /^x{60}-[0-9a-f]{8}\.dvd\.json$/)
  t.regex(dvdFileName('../../etc/passwd'), /^etc-passwd-[0-9a-f]{8}\.dvd\.json$/)
  t.true(dvdFileName('binary', '.dvd.lz4').endsWith('.dvd.lz4'))
})

test('DVDs go under __dvds__/<test file name>/ next to the test file, or in `dir`', (t) => {
  const file = join(tempDir(), 'api.test.js')
  const expected = join(file, '..', '__dvds__', 'api.test.js', dvdFileName('t'))
  t.is(dvdPathFor(file, 't'), expected)
  t.is(dvdPathFor(pathToFileURL(file).href, 't'), expected)
  const dir = tempDir()
  t.is(dvdPathFor(file, 't', { dir }), join(dir, dvdFileName('t')))
})

test('a test DVD opens on its first request, records, and saves only when the test passed', async (t) => {
  const server = await startServer()
  const dir = tempDir()
  const failed = new TestDVD('failed', join(dir, 'failed.dvd.json'), { recordMode: 'once' })
  t.is((await failed.fetch(`${server.origin}/counter`)).status, 200)
  t.truthy(failed.loaded)
  await failed.finish(false)
  t.false(existsSync(failed.file))

  const passed = new TestDVD('passed', join(dir, 'passed.dvd.json'), { recordMode: 'once' })
  const { body } = await request(`${server.origin}/counter`, { dispatcher: passed.dispatcher })
  t.is(await body.text(), 'call 2')
  await passed.finish(true)
  t.true(existsSync(passed.file))

  const unused = new TestDVD('unused', join(dir, 'unused.dvd.json'), { recordMode: 'once' })
  await unused.finish(true)
  t.is(unused.loaded, undefined)
  t.false(existsSync(unused.file))
  await server.close()
})

test('in mode none a missing DVD fails only the requests, and the errors are kept', async (t) => {
  const dir = tempDir()
  const origin = `http://127.0.0.1:${await closedPort()}`
  const dvd = new TestDVD('missing', join(dir, 'missing.dvd.json'), { recordMode: 'none' })
  t.is(dvd.mode, 'none')
  const error = await t.throwsAsync(dvd.fetch(`${origin}/x`))
  t.true(error?.cause instanceof DVDNotFoundError)
  await t.throwsAsync(request(`${origin}/y`, { dispatcher: dvd.dispatcher }), {
    instanceOf: DVDNotFoundError,
  })
  t.is(dvd.errors.length, 1) // the same open error both times
  await dvd.finish(true)
  t.false(existsSync(dvd.file))
})

test('an unmatched request is kept in errors', async (t) => {
  const server = await startServer()
  const file = join(tempDir(), 'one.dvd.json')
  const first = new TestDVD('one', file, { recordMode: 'once' })
  await (await first.fetch(`${server.origin}/json`)).text()
  await first.finish(true)
  await server.close()
  const replay = new TestDVD('one', file, { recordMode: 'none' })
  t.is(await (await replay.fetch(`${server.origin}/json`)).text(), '{"ok":true,"query":{}}')
  await t.throwsAsync(replay.fetch(`${server.origin}/json?page=2`))
  t.is(replay.errors.length, 1)
  t.true(replay.errors[0] instanceof UnmatchedRequestError)
  await replay.finish(true)
})

test('a binary test DVD for a new test file is saved into its __dvds__ folder, which does not exist yet', async (t) => {
  const server = await startServer()
  const testFile = join(tempDir(), 'new.test.js')
  const file = dvdPathFor(testFile, 'records a binary DVD', { extension: '.dvd.lz4' })
  t.false(existsSync(join(testFile, '..', '__dvds__')))
  const dvd = new TestDVD('records a binary DVD', file, { recordMode: 'once' })
  t.is((await dvd.fetch(`${server.origin}/counter`)).status, 200)
  await dvd.finish(true)
  await server.close()
  t.true(existsSync(file))
  const replay = new TestDVD('records a binary DVD', file, { recordMode: 'none' })
  t.is(await (await replay.fetch(`${server.origin}/counter`)).text(), 'call 1')
  await replay.finish(true)
  t.is(replay.loaded?.format, 'binary')
})

test('a test DVD takes the timing option: streams replay at their recorded pace', async (t) => {
  const server = await startStreamServer()
  const file = join(tempDir(), 'timed.dvd.json')
  const recording = new TestDVD('timed', file, { recordMode: 'once' })
  const url = `${server.origin}/sse?n=3&gap=150`
  const live = await fetchChunks(url, recording.dispatcher)
  await recording.finish(true)
  await server.close()
  const replaying = new TestDVD('timed', file, { recordMode: 'none', timing: 'recorded' })
  const replayed = await fetchChunks(url, replaying.dispatcher)
  await replaying.finish(true)
  t.deepEqual(
    replayed.chunks.map((c) => c.text),
    live.chunks.map((c) => c.text),
  )
  // Replayed at once, the last chunk would not wait for its recorded offset (about 300 ms).
  const { gaps_ms: gaps } = JSON.parse(readFileSync(file, 'utf8'))[0][1].chunks
  const offset = gaps.reduce((sum: number, gap: number) => sum + gap, 0)
  t.true(offset > 100)
  t.true(
    replayed.chunks.at(-1)!.at >= offset - 3,
    `last chunk after ${replayed.chunks.at(-1)!.at} ms, recorded at ${offset} ms`,
  )
})
