/**
 * The replay fast path of binary DVDs: the native reader keys a request from its dispatch parts
 * (method, origin, path) and answers with the first recording of that key when it was recorded
 * with exactly that method and URL. These tests hold it to the general path's answers.
 */
import { join } from 'node:path'
import test from 'ava'
import { request } from 'undici'
import { openBinaryStore, writeBinary } from '../lib/formats/binary.js'
import {
  DEFAULT_MATCH_ON,
  DVDLoader,
  type DVDOptions,
  type LoadedDVD,
  type MatcherName,
  type Recording,
} from '../lib/index.js'
import { keyOf } from '../lib/matchers.js'
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

/** Counts the requests a DVD sends down its general path (`decide`) rather than the fast one. */
function countGeneral(dvd: LoadedDVD): { readonly count: number } {
  const counter = { count: 0 }
  const decide = dvd.dvd.decide.bind(dvd.dvd)
  dvd.dvd.decide = (request) => {
    counter.count++
    return decide(request)
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

test('the fast path answers simple requests as the general lookup does, by the key TypeScript filed', (t) => {
  if (!native) return t.pass('the TypeScript reader has no fast path')
  const random = prng(4242)
  const requests = Array.from({ length: 3000 }, (_, i) => sampleRequest(random, i % 3 !== 0))
  // Recorded as the interceptor records them: upper-case method, URL = origin + path.
  const recordings = requests.map((r, i) => recording(r.method.toUpperCase(), r.origin + r.path, `#${i}`))
  const store = openBinaryStore(writeRecordings(recordings), DEFAULT_MATCH_ON)
  // What the general lookup answers first: the first recording filed under the request's key.
  const firstOfKey = new Map<string, number>()
  const perKey = new Map<string, number>()
  recordings.forEach(({ request }, id) => {
    const key = keyOf(request, DEFAULT_MATCH_ON)
    if (!firstOfKey.has(key)) firstOfKey.set(key, id)
    perKey.set(key, (perKey.get(key) ?? 0) + 1)
  })
  let answered = 0
  const bodies: [number, Uint8Array][] = []
  requests.forEach((r, i) => {
    const name = `${r.method} ${r.origin}${r.path}`
    const request = { method: r.method.toUpperCase(), url: r.origin + r.path, headers: [] }
    const key = keyOf(request, DEFAULT_MATCH_ON)
    const first = firstOfKey.get(key)!
    const found = store.findExact(r.method, r.origin, r.path)
    // Never another recording than the general lookup's; and for a simple request, that one
    // whenever it was recorded with exactly this method and URL.
    if (found) t.is(found.id, first, name)
    if (found) t.is(found.only, perKey.get(key) === 1, name)
    const same = recordings[first]!.request
    if (i % 3 !== 0 && same.method === request.method && same.url === request.url) {
      t.not(found, undefined, name)
      answered++
    }
    if (found) bodies.push([found.id, found.response().body!])
  })
  t.true(answered >= 1500, `${answered} simple requests answered by the fast path`)
  // Checked once all are found: no body handed out was overwritten by a later record.
  for (const [id, body] of bodies) t.is(Buffer.from(body).toString(), `#${id}`)
  store.close()
})

test('the fast path leaves another spelling of a recorded key to the general path', (t) => {
  if (!native) return t.pass('the TypeScript reader has no fast path')
  const recorded = recording('GET', 'https://a.test/x?b=2&a=1', 'answer')
  const store = openBinaryStore(writeRecordings([recorded]), DEFAULT_MATCH_ON)
  t.is(store.findExact('GET', 'https://a.test', '/x?a=1&b=2'), undefined)
  const incoming = { method: 'GET', url: 'https://a.test/x?a=1&b=2', headers: [] }
  t.deepEqual(store.lookup(keyOf(incoming, DEFAULT_MATCH_ON), incoming), [0])
  store.close()
})

test('the fast path is off when the file is indexed for another matchOn', (t) => {
  const file = writeRecordings([recording('GET', 'https://a.test/x', 'answer')], ['method', 'path'])
  const store = openBinaryStore(file, DEFAULT_MATCH_ON, () => {})
  t.is(store.findExact('GET', 'https://a.test', '/x'), undefined)
  t.is(store.lookup(keyOf(recording('GET', 'https://a.test/x', '').request, DEFAULT_MATCH_ON)).length, 1)
  store.close()
})

test('a request spelled otherwise than its recording still replays it through fetch', async (t) => {
  const { file, origin, live } = await recordLive('spelling.dvd.lz4', ['/json?b=2&a=1'])
  const play = await DVDLoader.open(file, { recordMode: 'none' })
  const general = countGeneral(play)
  const replayed = await (await fetchVia(play, `${origin}/json?a=1&b=2`)).text()
  t.is(replayed, live[0]!)
  t.is(general.count, 1)
  t.true(play.allPlayed)
  await play.close()
})

test('a recording answered by the fast path counts as played, and a repeat gets the next one', async (t) => {
  const origin = 'http://replay.test'
  const file = writeRecordings([
    recording('GET', `${origin}/n`, 'first'),
    recording('POST', `${origin}/n`, 'post'),
    recording('GET', `${origin}/n`, 'second'),
  ])
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  const general = countGeneral(dvd)
  const get = async () => (await fetchVia(dvd, `${origin}/n`)).text()
  t.is(await get(), 'first')
  t.is(dvd.playCount, 1)
  t.is(general.count, 0, 'the first GET and the POST take the fast path')
  t.is(await get(), 'second')
  t.is(general.count, 1, 'the repeat takes the general path')
  t.is(await (await fetchVia(dvd, `${origin}/n`, { method: 'POST', body: 'x' })).text(), 'post')
  t.is(general.count, 1)
  t.true(dvd.allPlayed)
  await t.throwsAsync(get(), { message: 'fetch failed' })
  await dvd.close()
})

test('a HEAD request answered by the fast path hands fetch no body', async (t) => {
  const origin = 'http://replay.test'
  const file = writeRecordings([recording('HEAD', `${origin}/h`, 'not sent')])
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  const res = await fetchVia(dvd, `${origin}/h`, { method: 'HEAD' })
  t.is(res.status, 200)
  t.is(await res.text(), '')
  t.true(dvd.allPlayed)
  await dvd.close()
})

test('requests too long or not ASCII for the fast path replay through the general path', async (t) => {
  const paths = [`/json?q=${'a'.repeat(10_000)}`, '/json?q=é']
  const { file, origin, live } = await recordLive('general.dvd.lz4', paths)
  const play = await DVDLoader.open(file, { recordMode: 'none' })
  const general = countGeneral(play)
  for (const [i, path] of paths.entries()) {
    t.is(await (await fetchVia(play, origin + path)).text(), live[i]!, path.slice(0, 20))
  }
  t.is(general.count, paths.length)
  t.true(play.allPlayed)
  await play.close()
})

test('with allowPlaybackRepeats, a repeat replays the last recording of its key, as decide does', async (t) => {
  const origin = 'http://replay.test'
  const file = writeRecordings([
    recording('GET', `${origin}/one`, 'only'),
    recording('GET', `${origin}/two`, 'first'),
    recording('GET', `${origin}/two`, 'second'),
  ])
  const dvd = await DVDLoader.open(file, { recordMode: 'none', allowPlaybackRepeats: true })
  const general = countGeneral(dvd)
  const get = async (path: string) => (await fetchVia(dvd, origin + path)).text()
  t.deepEqual([await get('/one'), await get('/one'), await get('/one')], ['only', 'only', 'only'])
  t.deepEqual(
    [await get('/two'), await get('/two'), await get('/two'), await get('/two')],
    ['first', 'second', 'second', 'second'],
  )
  t.is(dvd.playCount, 7)
  // The repeats of /one are the fast path's; /two's second to fourth are decide's.
  t.is(general.count, 3)
  await dvd.close()
})

test('the fast path is off when extra matchers, hooks or filters may change the answer', async (t) => {
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
    const general = countGeneral(dvd)
    const error = await t.throwsAsync(fetchVia(dvd, `${origin}/x?token=1`), undefined, name)
    t.is((error?.cause as Error | undefined)?.name, 'UnmatchedRequestError', name)
    t.is(general.count, 1, name)
    await dvd.close({ save: false })
  }
})

test('a lower-case head through undici.request is answered without a body', async (t) => {
  const origin = 'http://replay.test'
  const file = writeRecordings([recording('HEAD', `${origin}/h`, 'not sent')])
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  const general = countGeneral(dvd)
  const res = await request(`${origin}/h`, { method: 'head' as 'HEAD', dispatcher: dvd.dispatcher })
  t.is(res.statusCode, 200)
  t.is(await res.body.text(), '')
  t.is(general.count, 0)
  await dvd.close()
})

test('records larger than the fast path’s scratch buffer are answered by it, body intact', async (t) => {
  const origin = 'http://replay.test'
  const sizes = [100_000, 3 << 20, 10]
  const bodies = sizes.map((size, i) => Buffer.alloc(size, i + 1))
  const recordings: Recording[] = bodies.map((body, i) => ({
    request: { method: 'GET', url: `${origin}/big/${i}`, headers: [] },
    outcome: { status: 200, headers: [], body },
  }))
  const dvd = await DVDLoader.open(writeRecordings(recordings), { recordMode: 'none' })
  const general = countGeneral(dvd)
  const replayed = []
  for (let i = 0; i < sizes.length; i++) {
    replayed.push(Buffer.from(await (await fetchVia(dvd, `${origin}/big/${i}`)).arrayBuffer()))
  }
  for (const [i, body] of replayed.entries()) t.true(body.equals(bodies[i]!), `body ${i}`)
  t.is(general.count, 0)
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
  const general = countGeneral(dvd)
  // Every response is in hand before any body is read.
  const responses = []
  for (let i = 0; i < sizes.length; i++) {
    responses.push(await request(`${origin}/held/${i}`, { dispatcher: dvd.dispatcher }))
  }
  for (const [i, res] of responses.entries()) {
    const body = Buffer.from(await res.body.arrayBuffer())
    t.true(body.equals(Buffer.alloc(sizes[i]!, i + 1)), `body ${i}`)
  }
  t.is(general.count, 0)
  await dvd.close()
})
