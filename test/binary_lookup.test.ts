/**
 * Looking requests up in binary DVDs: the store asks the reader for the candidates of a key, which
 * chooses one on its play counts and decompresses only that one, in at most two calls into the
 * reader per request; the native reader keys simple requests from their dispatch parts. These tests
 * hold every way in to the same answers.
 */
import { join } from 'node:path'
import test from 'ava'
import { request } from 'undici'
import { type BinaryStore, openBinaryStore, writeBinary } from '../lib/formats/binary.js'
import {
  DEFAULT_MATCH_ON,
  DVDLoader,
  type DVDOptions,
  type LoadedDVD,
  type MatcherName,
  type Recording,
} from '../lib/index.js'
import { keyOf } from '../lib/matchers.js'
import type { DVDResponse } from '../lib/model.js'
import { binaryBackend } from '../lib/native.js'
import { prng } from './helpers/prng.js'
import { startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

const native = binaryBackend() === 'native'

function recording(method: string, url: string, body: string): Recording {
  return {
    request: { method, url, headers: [['accept', '*/*']] },
    outcome: { status: 200, headers: [['content-type', 'text/plain']], body: Buffer.from(body) },
  }
}

function writeRecordings(
  recordings: Recording[],
  matchOn: readonly MatcherName[] = DEFAULT_MATCH_ON,
): string {
  const file = join(tempDir(), 'exact.dvd.lz4')
  writeBinary(
    file,
    recordings.map((r) => ({ kind: 'recording', recording: r })),
    matchOn,
  )
  return file
}

/** A request of the simple form, or (`simple` false) one that may need URL parsing. */
function sampleRequest(random: ReturnType<typeof prng>, simple: boolean) {
  const pick = <T>(xs: readonly T[]): T => xs[random.int(xs.length)]!
  const origins = simple
    ? ['https://api.example.com', 'http://localhost:8080', 'http://127.0.0.1:3000', 'https://a.test:443']
    : [
        'https://API.example.com',
        'http://127.1',
        'http://xn--nxasmq6b.com',
        'http://[::1]:8080',
        'https://a.b.',
      ]
  const segments = simple
    ? ['v1', 'items', '3.json', '.hidden', '~x', 'A', '', '(x)*!$&,;=:@']
    : ['.', '..', '%2e', 'a b', "it's", 'é', 'a%20b', 'a+b']
  const queries = simple
    ? ['', '?', '?id=1&page=2', '?b=2&a=1', '?a=1&a=2', '?a', '?a=&b', '?a=b=c', '??x=1', '?a=1?b', '?&&z=1&']
    : ["?q='x'", '?q=a b', '?x=%41', '?x=+', '?é=1']
  // A path never starts with `//` (a dispatch of that path would be joined by parsing the URL).
  const first = pick(segments.filter((segment) => segment !== ''))
  const rest = Array.from({ length: random.int(3) }, () => `/${pick(segments)}`).join('')
  const path = `/${first}${rest}${pick(queries)}`
  return {
    method: pick(simple ? ['GET', 'post', 'PATCH'] : ['M-SEARCH', 'GET']),
    origin: pick(origins),
    path,
  }
}

/** Counts the calls a DVD makes into its binary reader's lookups (`find` and `read`). */
function countCalls(dvd: LoadedDVD): { count: number } {
  const counter = { count: 0 }
  const reader = (dvd.dvd.base as BinaryStore).reader
  for (const name of ['find', 'read'] as const) {
    const method = reader[name].bind(reader) as (...args: unknown[]) => void
    ;(reader as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      counter.count++
      return method(...args)
    }
  }
  return counter
}

/** `fetch` through a DVD's dispatcher. */
function fetchVia(dvd: LoadedDVD, url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, dispatcher: dvd.dispatcher } as unknown as RequestInit)
}

/** Records `paths` of a live local server into a new DVD `name`: the file, the origin and what it served. */
async function recordLive(name: string, paths: readonly string[]) {
  const server = await startServer()
  const file = join(tempDir(), name)
  const rec = await DVDLoader.open(file, { recordMode: 'once' })
  const live: string[] = []
  for (const path of paths) live.push(await (await fetchVia(rec, server.origin + path)).text())
  await rec.close()
  await server.close()
  return { file, origin: server.origin, live }
}

/** A query of a request given by its dispatch parts, as the DVD makes it. */
function query(method: string, origin: string, path: string, withParts = true) {
  const request = { method: method.toUpperCase(), url: origin + path, headers: [] }
  return {
    request,
    key: () => keyOf(request, DEFAULT_MATCH_ON),
    parts: withParts ? { method, origin, path } : undefined,
  }
}

test('a request keyed from its dispatch parts finds what its key finds', (t) => {
  const random = prng(4242)
  const requests = Array.from({ length: 3000 }, (_, i) => sampleRequest(random, i % 3 !== 0))
  // Recorded as the interceptor records them: upper-case method, URL = origin + path.
  const recordings = requests.map((r, i) => recording(r.method.toUpperCase(), r.origin + r.path, `#${i}`))
  const store = openBinaryStore(writeRecordings(recordings), DEFAULT_MATCH_ON)
  // What a lookup must answer first: the first recording filed under the request's key.
  const firstOfKey = new Map<string, number>()
  recordings.forEach(({ request }, id) => {
    const key = keyOf(request, DEFAULT_MATCH_ON)
    if (!firstOfKey.has(key)) firstOfKey.set(key, id)
  })
  const bodies: [number, Uint8Array][] = []
  for (const r of requests) {
    const name = `${r.method} ${r.origin}${r.path}`
    const byParts = store.find(query(r.method, r.origin, r.path), 0, null)
    const first = firstOfKey.get(byParts ? query(r.method, r.origin, r.path).key() : '')
    t.is(byParts?.id, first, name)
    if (byParts) bodies.push([byParts.id, (byParts.outcome() as DVDResponse).body!])
    t.is(store.find(query(r.method, r.origin, r.path, false), 0, null)?.id, first, name)
  }
  t.is(bodies.length, requests.length)
  // Checked once all are found: no body handed out was overwritten by a later record.
  for (const [id, body] of bodies) t.is(Buffer.from(body).toString(), `#${id}`)
  store.close()
})

test('another spelling of a recorded key finds the recording', (t) => {
  const recorded = recording('GET', 'https://a.test/x?b=2&a=1', 'answer')
  const store = openBinaryStore(writeRecordings([recorded]), DEFAULT_MATCH_ON)
  t.is(store.find(query('GET', 'https://a.test', '/x?a=1&b=2'), 0, null)?.id, 0)
  store.close()
})

test('a file indexed for another matchOn is looked up in an index built in memory', (t) => {
  const file = writeRecordings([recording('GET', 'https://a.test/x', 'answer')], ['method', 'path'])
  const store = openBinaryStore(file, DEFAULT_MATCH_ON, () => {})
  t.is(store.find(query('GET', 'https://a.test', '/x'), 0, null)?.id, 0)
  t.is(store.find(query('GET', 'https://a.test', '/y'), 0, null), undefined)
  store.close()
})

test('a request spelled otherwise than its recording still replays it through fetch', async (t) => {
  const { file, origin, live } = await recordLive('spelling.dvd.lz4', ['/json?b=2&a=1'])
  const play = await DVDLoader.open(file, { recordMode: 'none' })
  const calls = countCalls(play)
  const replayed = await (await fetchVia(play, `${origin}/json?a=1&b=2`)).text()
  t.is(replayed, live[0]!)
  t.true(calls.count <= 2)
  t.true(play.allPlayed)
  await play.close()
})

test('a recording answered counts as played, and a repeat gets the next one, in one call each', async (t) => {
  const origin = 'http://replay.test'
  const file = writeRecordings([
    recording('GET', `${origin}/n`, 'first'),
    recording('POST', `${origin}/n`, 'post'),
    recording('GET', `${origin}/n`, 'second'),
  ])
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  const calls = countCalls(dvd)
  const get = async () => (await fetchVia(dvd, `${origin}/n`)).text()
  t.is(await get(), 'first')
  t.is(dvd.playCount, 1)
  t.is(await get(), 'second')
  t.is(await (await fetchVia(dvd, `${origin}/n`, { method: 'POST', body: 'x' })).text(), 'post')
  t.is(calls.count, 3)
  t.true(dvd.allPlayed)
  await t.throwsAsync(get(), { message: 'fetch failed' })
  await dvd.close()
})

test('a replayed HEAD request hands fetch no body', async (t) => {
  const origin = 'http://replay.test'
  const file = writeRecordings([recording('HEAD', `${origin}/h`, 'not sent')])
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  const res = await fetchVia(dvd, `${origin}/h`, { method: 'HEAD' })
  t.is(res.status, 200)
  t.is(await res.text(), '')
  t.true(dvd.allPlayed)
  await dvd.close()
})

test('requests too long or not ASCII to be keyed from their parts replay in two calls', async (t) => {
  const paths = [`/json?q=${'a'.repeat(10_000)}`, '/json?q=é']
  const { file, origin, live } = await recordLive('general.dvd.lz4', paths)
  const play = await DVDLoader.open(file, { recordMode: 'none' })
  const calls = countCalls(play)
  for (const [i, path] of paths.entries()) {
    t.is(await (await fetchVia(play, origin + path)).text(), live[i]!, path.slice(0, 20))
  }
  t.true(calls.count <= 2 * paths.length)
  t.true(play.allPlayed)
  await play.close()
})

test('with allowPlaybackRepeats, a repeat replays the last recording of its key', async (t) => {
  const origin = 'http://replay.test'
  const file = writeRecordings([
    recording('GET', `${origin}/one`, 'only'),
    recording('GET', `${origin}/two`, 'first'),
    recording('GET', `${origin}/two`, 'second'),
  ])
  const dvd = await DVDLoader.open(file, { recordMode: 'none', allowPlaybackRepeats: true })
  const calls = countCalls(dvd)
  const get = async (path: string) => (await fetchVia(dvd, origin + path)).text()
  t.deepEqual([await get('/one'), await get('/one'), await get('/one')], ['only', 'only', 'only'])
  t.deepEqual(
    [await get('/two'), await get('/two'), await get('/two'), await get('/two')],
    ['first', 'second', 'second', 'second'],
  )
  t.is(dvd.playCount, 7)
  t.is(calls.count, 7)
  await dvd.close()
})

test('extra matchers, hooks and filters are applied before a recording answers', async (t) => {
  const origin = 'http://replay.test'
  const file = writeRecordings([recording('GET', `${origin}/x?token=1`, 'answer')])
  // Each option makes the recorded request miss, which only the general path can tell.
  const options: [string, DVDOptions][] = [
    ['extraMatchers', { extraMatchers: [() => false] }],
    ['beforeRecordRequest', { beforeRecordRequest: (r) => ({ ...r, url: `${r.url}&hooked=1` }) }],
    ['filterQueryParameters', { filterQueryParameters: ['token'] }],
    ['matchOn with headers', { matchOn: [...DEFAULT_MATCH_ON, 'headers'] }],
  ]
  for (const [name, extra] of options) {
    const dvd = await DVDLoader.open(file, { recordMode: 'none', onWarning() {}, ...extra })
    const error = await t.throwsAsync(fetchVia(dvd, `${origin}/x?token=1`), undefined, name)
    t.is((error?.cause as Error | undefined)?.name, 'UnmatchedRequestError', name)
    await dvd.close({ save: false })
  }
})

test('a lower-case head through undici.request is answered without a body', async (t) => {
  const origin = 'http://replay.test'
  const file = writeRecordings([recording('HEAD', `${origin}/h`, 'not sent')])
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  const calls = countCalls(dvd)
  const res = await request(`${origin}/h`, { method: 'head' as 'HEAD', dispatcher: dvd.dispatcher })
  t.is(res.statusCode, 200)
  t.is(await res.body.text(), '')
  t.is(calls.count, native ? 1 : 2)
  await dvd.close()
})

test('records larger than the lookup’s scratch buffer are answered in two calls, body intact', async (t) => {
  const origin = 'http://replay.test'
  const sizes = [100_000, 3 << 20, 10]
  const bodies = sizes.map((size, i) => Buffer.alloc(size, i + 1))
  const recordings: Recording[] = bodies.map((body, i) => ({
    request: { method: 'GET', url: `${origin}/big/${i}`, headers: [] },
    outcome: { status: 200, headers: [], body },
  }))
  const dvd = await DVDLoader.open(writeRecordings(recordings), { recordMode: 'none' })
  const calls = countCalls(dvd)
  const replayed = []
  for (let i = 0; i < sizes.length; i++) {
    replayed.push(Buffer.from(await (await fetchVia(dvd, `${origin}/big/${i}`)).arrayBuffer()))
  }
  for (const [i, body] of replayed.entries()) t.true(body.equals(bodies[i]!), `body ${i}`)
  t.true(calls.count <= 2 * sizes.length)
  await dvd.close()
})

test('bodies replayed one after the other stay intact while the consumer holds them all', async (t) => {
  const origin = 'http://replay.test'
  const sizes = [10, 3000, 100_000, 70_000]
  const recordings: Recording[] = sizes.map((size, i) => ({
    request: { method: 'GET', url: `${origin}/held/${i}`, headers: [] },
    outcome: { status: 200, headers: [], body: Buffer.alloc(size, i + 1) },
  }))
  const dvd = await DVDLoader.open(writeRecordings(recordings), { recordMode: 'none' })
  // Every response is in hand before any body is read.
  const responses = []
  for (let i = 0; i < sizes.length; i++) {
    responses.push(await request(`${origin}/held/${i}`, { dispatcher: dvd.dispatcher }))
  }
  for (const [i, res] of responses.entries()) {
    const body = Buffer.from(await res.body.arrayBuffer())
    t.true(body.equals(Buffer.alloc(sizes[i]!, i + 1)), `body ${i}`)
  }
  await dvd.close()
})

test('each of many recordings under one key is found in at most two calls into the reader', async (t) => {
  // GraphQL POSTs to one URL: the body is not matched, so all 500 share one key.
  const origin = 'http://graphql.test'
  const recordings: Recording[] = Array.from({ length: 500 }, (_, i) => ({
    request: { method: 'POST', url: `${origin}/graphql`, headers: [], body: Buffer.from(`{"i":${i}}`) },
    outcome: { status: 200, headers: [], body: Buffer.from(`answer ${i}`) },
  }))
  const dvd = await DVDLoader.open(writeRecordings(recordings), { recordMode: 'none' })
  const calls = countCalls(dvd)
  let most = 0
  for (let i = 0; i < recordings.length; i++) {
    const before = calls.count
    const res = await fetchVia(dvd, `${origin}/graphql`, { method: 'POST', body: `{"i":${i}}` })
    t.is(await res.text(), `answer ${i}`)
    most = Math.max(most, calls.count - before)
  }
  t.true(most <= 2, `${most} calls for one request`)
  t.true(dvd.allPlayed)
  await dvd.close()
})
