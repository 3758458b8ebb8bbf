import { join } from 'node:path'
import type { TestFn } from 'ava'
import { request } from 'undici'
import { DVDLoader, type DVDOptions, type LoadedDVD } from '../../lib/index.js'
import { ALL_BYTES, GZIP_TEXT, largeBody, startServer } from '../helpers/server.js'
import { tempDir } from '../helpers/tmp.js'

/** The file suffix of each DVD format. */
export type Format = 'json' | 'binary' | 'har'

/**
 * Registers the suite for DVDs stored in `format`; every test file that calls it runs the same
 * specification against another storage (JSON, HAR, binary with the addon, binary with the TS reader).
 */
export function replaySuite(test: TestFn, format: Format): void {
  const ext = { json: 'dvd.json', binary: 'dvd.lz4', har: 'har' }[format]

  interface Seen {
    status: number
    statusText: string
    headers: [string, string][]
    body: string
  }

  async function viaFetch(url: string, dvd: LoadedDVD, init: RequestInit = {}): Promise<Seen> {
    const res = await fetch(url, { ...init, dispatcher: dvd.dispatcher } as unknown as RequestInit)
    const body = Buffer.from(await res.arrayBuffer()).toString('base64')
    return { status: res.status, statusText: res.statusText, headers: [...res.headers], body }
  }

  /** Records `paths` against a live server, stops it, replays them and returns both views. */
  async function recordThenReplay(paths: string[], init: RequestInit = {}, options: DVDOptions = {}) {
    const server = await startServer()
    const file = join(tempDir(), `case.${ext}`)
    const rec = await DVDLoader.open(file, { ...options, recordMode: 'once' })
    const live: Seen[] = []
    for (const path of paths) live.push(await viaFetch(server.origin + path, rec, init))
    await rec.close()
    const hitsWhileRecording = server.hits()
    await server.close()
    const play = await DVDLoader.open(file, { recordMode: 'none' })
    const replayed: Seen[] = []
    for (const path of paths) replayed.push(await viaFetch(server.origin + path, play, init))
    await play.close()
    return { live, replayed, hitsWhileRecording, play, origin: server.origin }
  }

  // Set-Cookie values are redacted by default; this suite checks the bytes, so it keeps them.
  const keepSecrets: DVDOptions = { redactSecrets: false }
  const cases: [string, string[], DVDOptions?][] = [
    ['a JSON response', ['/json?a=1&b=2']],
    ['a gzip-encoded response, decoded by fetch the same way', ['/gzip']],
    ['a brotli-encoded response', ['/br']],
    ['a binary body with every byte value', ['/bin']],
    ['an empty 204 response', ['/empty']],
    ['a 304 response', ['/not-modified']],
    ['a 500 response', ['/status/500']],
    ['a chain of redirects, hop by hop', ['/redirect']],
    ['repeated Set-Cookie headers', ['/multi-header'], keepSecrets],
    ['a custom reason phrase', ['/reason']],
    ['two recordings of one request, in recording order', ['/counter', '/counter']],
  ]

  for (const [title, paths, options] of cases) {
    test(`replays ${title} exactly as fetch saw it live`, async (t) => {
      const { live, replayed, hitsWhileRecording, play } = await recordThenReplay(paths, {}, options)
      t.true(hitsWhileRecording >= paths.length)
      t.deepEqual(replayed, live)
      t.true(play.allPlayed)
    })
  }

  test('replays a redirect chain as three recordings', async (t) => {
    const { replayed, play } = await recordThenReplay(['/redirect'])
    t.is(play.count, 3)
    t.is(replayed[0]?.status, 200)
  })

  test('records the gzip body as wire bytes and fetch decodes it on replay', async (t) => {
    const { replayed, play } = await recordThenReplay(['/gzip'])
    t.is(Buffer.from(replayed[0]!.body, 'base64').toString(), GZIP_TEXT)
    const recording = play.dvd.get(0)
    const outcome = recording.outcome as { body: Uint8Array; headers: [string, string][] }
    t.deepEqual(
      outcome.headers.find(([k]) => k === 'content-encoding'),
      ['content-encoding', 'gzip'],
    )
    t.deepEqual(Buffer.from(outcome.body).subarray(0, 2), Buffer.from([0x1f, 0x8b]))
  })

  test('replays every byte value of a binary body', async (t) => {
    const { replayed } = await recordThenReplay(['/bin'])
    t.deepEqual(Buffer.from(replayed[0]!.body, 'base64'), ALL_BYTES)
  })

  test('replays an 8 MiB body byte for byte', async (t) => {
    const { replayed } = await recordThenReplay(['/large'])
    t.true(Buffer.from(replayed[0]!.body, 'base64').equals(largeBody()))
  })

  test('replays 50 parallel requests, each with its own answer', async (t) => {
    const server = await startServer()
    const file = join(tempDir(), `parallel.${ext}`)
    const urls = Array.from({ length: 50 }, (_, i) => `${server.origin}/json?i=${i}`)
    const rec = await DVDLoader.open(file, { recordMode: 'once' })
    const live = await Promise.all(urls.map((u) => viaFetch(u, rec)))
    await rec.close()
    await server.close()
    const play = await DVDLoader.open(file, { recordMode: 'none' })
    const replayed = await Promise.all(urls.map((u) => viaFetch(u, play)))
    t.deepEqual(
      replayed.map((r) => r.body),
      live.map((r) => r.body),
    )
    t.is(play.playCount, 50)
    await play.close()
  })

  test('a consumer that asks to wait gets no more of a replayed body until it resumes', async (t) => {
    const { play, origin } = await recordThenReplay(['/large'])
    const dvd = await DVDLoader.open(play.file, { recordMode: 'none' })
    const url = new URL(`${origin}/large`)
    const chunks: Buffer[] = []
    let resume: () => void = () => {}
    let waiting = false
    let dataWhileWaiting = 0
    const done = new Promise<number>((resolve, reject) => {
      dvd.dispatcher.dispatch({ origin: url.origin, path: url.pathname, method: 'GET', headers: {} }, {
        onConnect() {},
        onHeaders(status, _raw, r) {
          resume = r
          return status === 200
        },
        onData(chunk) {
          if (waiting) dataWhileWaiting++
          chunks.push(Buffer.from(chunk))
          // Every other chunk, say "stop" and resume a little later.
          if (chunks.length % 2 === 1) {
            waiting = true
            setTimeout(() => {
              waiting = false
              resume()
            }, 2)
            return false
          }
          return true
        },
        onComplete() {
          resolve(chunks.length)
        },
        onError: reject,
      } as Parameters<typeof dvd.dispatcher.dispatch>[1])
    })
    const count = await done
    t.is(dataWhileWaiting, 0)
    t.true(count > 2, 'the body came in several slices')
    t.true(Buffer.concat(chunks).equals(largeBody()))
    await dvd.close()
  })

  test('replays through undici.request, handing back the raw gzip bytes as the server sent them', async (t) => {
    const server = await startServer()
    const file = join(tempDir(), `request.${ext}`)
    const rec = await DVDLoader.open(file, { recordMode: 'once' })
    const live = await request(`${server.origin}/gzip`, { dispatcher: rec.dispatcher })
    const liveBody = Buffer.from(await live.body.arrayBuffer())
    await rec.close()
    await server.close()
    const play = await DVDLoader.open(file, { recordMode: 'none' })
    const replayed = await request(`${server.origin}/gzip`, { dispatcher: play.dispatcher })
    t.is(replayed.statusCode, 200)
    t.is(replayed.headers['content-encoding'], 'gzip')
    t.true(Buffer.from(await replayed.body.arrayBuffer()).equals(liveBody))
  })
}
