/** Request bodies of every kind, recorded, matched and replayed, against every storage. */
import { join } from 'node:path'
import { Readable } from 'node:stream'
import type { TestFn } from 'ava'
import { request, FormData as UndiciFormData } from 'undici'
import { DVDLoader, type LoadedDVD, type MatcherName } from '../../lib/index.js'
import { startServer } from '../helpers/server.js'
import { tempDir } from '../helpers/tmp.js'
import { extOf, type Format } from './format.js'

export function requestBodiesSuite(test: TestFn, format: Format): void {
  const ext = extOf(format)

  interface Echo {
    method: string
    contentType: string | null
    body: string
  }

  const fetchEcho = async (dvd: LoadedDVD, url: string, init: RequestInit): Promise<Echo> => {
    const res = await fetch(url, {
      method: 'POST',
      ...init,
      dispatcher: dvd.dispatcher,
    } as unknown as RequestInit)
    return (await res.json()) as Echo
  }

  /** Sends `makeInit()` live while recording and again from the DVD; returns what the server saw and the replay. */
  async function roundTrip(makeInit: () => RequestInit, matchOn?: MatcherName[]) {
    const server = await startServer()
    const file = join(tempDir(), `bodies.${ext}`)
    const url = `${server.origin}/echo`
    const rec = await DVDLoader.open(file, { recordMode: 'once', ...(matchOn ? { matchOn } : {}) })
    const live = await fetchEcho(rec, url, makeInit())
    const recordedBody = rec.dvd.get(0).request.body
    await rec.close()
    await server.close()
    const play = await DVDLoader.open(file, { recordMode: 'none', ...(matchOn ? { matchOn } : {}) })
    const replayed = await fetchEcho(play, url, makeInit())
    await play.close()
    return { live, replayed, recordedBody: Buffer.from(recordedBody ?? []) }
  }

  const bodies: [string, () => RequestInit, string][] = [
    ['a string', () => ({ body: 'hello body' }), 'hello body'],
    [
      'a JSON string',
      () => ({ body: JSON.stringify({ a: 1 }), headers: { 'content-type': 'application/json' } }),
      '{"a":1}',
    ],
    ['a Buffer', () => ({ body: Buffer.from([0, 1, 2, 255]) }), '\u0000\u0001\u0002\uFFFD'],
    ['a Uint8Array', () => ({ body: new TextEncoder().encode('typed array') }), 'typed array'],
    ['URLSearchParams', () => ({ body: new URLSearchParams({ q: 'a b', n: '1' }) }), 'q=a+b&n=1'],
    ['a Blob', () => ({ body: new Blob(['blob ', 'parts']) }), 'blob parts'],
    [
      'a ReadableStream',
      () =>
        ({
          body: new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode('streamed '))
              c.enqueue(new TextEncoder().encode('chunks'))
              c.close()
            },
          }),
          duplex: 'half',
        }) as RequestInit,
      'streamed chunks',
    ],
  ]

  for (const [kind, makeInit, expected] of bodies) {
    test(`records a POST body given as ${kind}, as the bytes the server received`, async (t) => {
      const { live, replayed, recordedBody } = await roundTrip(makeInit)
      const received = Buffer.from(live.body, 'base64')
      t.is(received.toString(), expected)
      t.true(recordedBody.equals(received))
      t.deepEqual(replayed, live)
    })
  }

  test('records a FormData body with its multipart boundary, as the server received it', async (t) => {
    const makeInit = () => {
      const form = new FormData()
      form.append('field', 'value')
      form.append('file', new Blob(['file contents'], { type: 'text/plain' }), 'a.txt')
      return { body: form }
    }
    const { live, replayed, recordedBody } = await roundTrip(makeInit)
    t.regex(String(live.contentType), /^multipart\/form-data; boundary=/)
    t.true(recordedBody.equals(Buffer.from(live.body, 'base64')))
    t.true(recordedBody.toString().includes('file contents'))
    t.is(replayed.method, 'POST')
  })

  test('undici.request sends Readable streams, async iterables and FormData, and records their bytes', async (t) => {
    const server = await startServer()
    const file = join(tempDir(), `request-bodies.${ext}`)
    const dvd = await DVDLoader.open(file, { recordMode: 'once' })
    const send = async (body: unknown) => {
      const res = await request(`${server.origin}/echo`, {
        method: 'POST',
        body: body as string,
        dispatcher: dvd.dispatcher,
      })
      return Buffer.from(((await res.body.json()) as Echo).body, 'base64').toString()
    }
    t.is(await send(Readable.from([Buffer.from('node '), Buffer.from('stream')])), 'node stream')
    t.is(
      await send(
        (async function* () {
          yield 'async '
          yield 'iterable'
        })(),
      ),
      'async iterable',
    )
    const form = new UndiciFormData()
    form.append('k', 'v')
    t.true((await send(form)).includes('name="k"'))
    t.deepEqual(
      [0, 1].map((id) => Buffer.from(dvd.dvd.get(id).request.body ?? []).toString()),
      ['node stream', 'async iterable'],
    )
    await dvd.close({ save: false })
    await server.close()
  })

  test('with the body matcher, requests that differ only in body get their own recordings', async (t) => {
    const server = await startServer()
    const file = join(tempDir(), `body-match.${ext}`)
    const url = `${server.origin}/echo`
    const rec = await DVDLoader.open(file, { recordMode: 'once', matchOn: ['method', 'path', 'body'] })
    await fetchEcho(rec, url, { body: 'first' })
    await fetchEcho(rec, url, { body: 'second' })
    await rec.close()
    await server.close()
    const play = await DVDLoader.open(file, { recordMode: 'none', matchOn: ['method', 'path', 'body'] })
    const second = await fetchEcho(play, url, { body: 'second' })
    const first = await fetchEcho(play, url, { body: 'first' })
    t.is(Buffer.from(second.body, 'base64').toString(), 'second')
    t.is(Buffer.from(first.body, 'base64').toString(), 'first')
    await play.close()
  })

  test('with the json_body matcher, JSON bodies match whatever their key order', async (t) => {
    const server = await startServer()
    const file = join(tempDir(), `json-match.${ext}`)
    const url = `${server.origin}/echo`
    const options = { matchOn: ['method', 'path', 'json_body'] as const }
    const rec = await DVDLoader.open(file, { recordMode: 'once', matchOn: [...options.matchOn] })
    await fetchEcho(rec, url, { body: '{"a":1,"b":[1,2]}' })
    await rec.close()
    await server.close()
    const play = await DVDLoader.open(file, { recordMode: 'none', matchOn: [...options.matchOn] })
    const replayed = await fetchEcho(play, url, { body: '{ "b": [1, 2], "a": 1 }' })
    t.is(Buffer.from(replayed.body, 'base64').toString(), '{"a":1,"b":[1,2]}')
    const error = await t.throwsAsync(fetchEcho(play, url, { body: '{"a":1,"b":[2,1]}' }))
    t.is(((error as Error).cause as { code?: string }).code, 'DVD_ERR_UNMATCHED')
    await play.close()
  })
}
