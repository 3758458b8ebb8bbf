/** Secrets kept out of DVD files (headers, query and body parameters), against every storage. */
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { TestFn } from 'ava'
import {
  DVDLoader,
  type DVDOptions,
  isRecordedError,
  type LoadedDVD,
  REDACTED,
  type Recording,
} from '../../lib/index.js'
import { startServer } from '../helpers/server.js'
import { tempDir } from '../helpers/tmp.js'
import { extOf, type Format, savedText } from './format.js'

export function secretsSuite(test: TestFn, format: Format): void {
  const ext = extOf(format)

  /** What one run sends; a replay run uses other real values. */
  interface Secrets {
    bearer: string
    xApiKey: string
    requestCookie: string
    queryKey: string
    formPassword: string
    jsonPassword: string
  }

  const LIVE: Secrets = {
    bearer: 'tok-live-9f8e7d6c5b4a3921',
    xApiKey: 'xkey-live-77aa88bb99cc',
    requestCookie: 'reqcookie-live-5566778899',
    queryKey: 'qkey-live-1a2b3c4d5e6f',
    formPassword: 'hunter2-form-pw-0011223344',
    jsonPassword: 'json-pw-q7w8e9r0t1y2u3',
  }
  /** The session cookie the server sets. */
  const SET_COOKIE_SECRET = 'sess-live-abcdef1234567890'

  const OTHER: Secrets = {
    bearer: 'tok-other-000000000000000000',
    xApiKey: 'xkey-other-1',
    requestCookie: 'reqcookie-other',
    queryKey: 'qkey-other-zz',
    formPassword: 'another-password-that-is-longer',
    jsonPassword: 'x',
  }

  const secretValues = (s: Secrets) => [
    s.bearer,
    s.xApiKey,
    s.requestCookie,
    s.queryKey,
    s.formPassword,
    s.jsonPassword,
  ]
  const ALL_LIVE = [...secretValues(LIVE), SET_COOKIE_SECRET]

  /** A server that never echoes what it receives (so secrets can only leak through the recording). */
  async function secretServer() {
    const received: { url: string; authorization?: string | undefined; body: string }[] = []
    const server = createServer(async (req: IncomingMessage, res) => {
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      received.push({
        url: req.url ?? '',
        authorization: req.headers.authorization,
        body: Buffer.concat(chunks).toString(),
      })
      if (req.url?.startsWith('/login')) {
        res.setHeader('set-cookie', [`session=${SET_COOKIE_SECRET}; Path=/; HttpOnly`, 'theme=dark'])
      }
      res.setHeader('content-type', 'text/plain')
      res.end(`ok ${req.method} ${req.url?.split('?')[0]}`)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    return {
      origin: `http://127.0.0.1:${port}`,
      received,
      close: async () => {
        server.closeAllConnections()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      },
    }
  }

  interface Seen {
    status: number
    text: string
    setCookie: string[]
  }

  async function send(dvd: LoadedDVD, url: string, init: RequestInit = {}): Promise<Seen> {
    const res = await fetch(url, { ...init, dispatcher: dvd.dispatcher } as unknown as RequestInit)
    return { status: res.status, text: await res.text(), setCookie: res.headers.getSetCookie() }
  }

  /** The four requests of the scenario, with these real credentials. */
  async function scenario(dvd: LoadedDVD, origin: string, s: Secrets): Promise<Seen[]> {
    return [
      await send(dvd, `${origin}/data?page=2&api_key=${s.queryKey}&sort=asc`, {
        headers: {
          authorization: `Bearer ${s.bearer}`,
          'X-Api-Key': s.xApiKey,
          cookie: `sid=${s.requestCookie}; lang=en`,
        },
      }),
      await send(dvd, `${origin}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `user=bob&password=${s.formPassword}&remember=1`,
      }),
      await send(dvd, `${origin}/login?json=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{ "user": "bob",\n  "password": "${s.jsonPassword}", "n": [1, 2] }`,
      }),
      await send(dvd, `${origin}/data?api_key=${s.queryKey}`),
    ]
  }

  const OPTIONS: DVDOptions = {
    filterQueryParameters: ['api_key'],
    filterPostDataParameters: ['password'],
    // Symmetric redaction must hold even when every header and the body are matched.
    matchOn: ['method', 'scheme', 'host', 'port', 'path', 'query', 'headers', 'body'],
  }

  /** Every string a recording holds, bodies as text (decoded again when compressed). */
  function textsOf(recordings: Iterable<Recording>): string[] {
    const texts: string[] = []
    const bytes = (b: Uint8Array | null | undefined) => {
      if (!b) return
      const buf = Buffer.from(b)
      texts.push(buf.toString('utf8'), buf.toString('latin1'))
    }
    for (const { request, outcome } of recordings) {
      texts.push(request.url, JSON.stringify(request.headers))
      bytes(request.body)
      const response = isRecordedError(outcome) ? outcome.partial : outcome
      if (response) {
        texts.push(JSON.stringify(response.headers))
        bytes(response.body)
      }
    }
    return texts
  }

  /** Every base64 body field of a JSON DVD, decoded. */
  function jsonBodies(text: string): string[] {
    const found: string[] = []
    for (const match of text.matchAll(/"b64_byte__([A-Za-z0-9+/=]*)"/g)) {
      found.push(Buffer.from(match[1]!, 'base64').toString('utf8'))
    }
    return found
  }

  function assertNoSecrets(t: import('ava').ExecutionContext, texts: string[], where: string) {
    for (const secret of ALL_LIVE) {
      for (const text of texts) {
        if (text.includes(secret)) t.fail(`${where}: found "${secret}" in ${text.slice(0, 200)}`)
        const b64 = Buffer.from(secret).toString('base64').replace(/=+$/, '')
        if (text.includes(b64.slice(0, 12))) t.fail(`${where}: found base64 of "${secret}"`)
      }
    }
  }

  test('no secret reaches the file, and a replay with other real values still matches', async (t) => {
    const server = await secretServer()
    const file = join(tempDir(), `secrets.${ext}`)
    const rec = await DVDLoader.open(file, { ...OPTIONS, recordMode: 'once' })
    const live = await scenario(rec, server.origin, LIVE)
    await rec.close()
    // The network got the real values.
    t.is(server.received[0]?.authorization, `Bearer ${LIVE.bearer}`)
    t.true(server.received[0]?.url.includes(LIVE.queryKey))
    t.true(server.received[1]?.body.includes(LIVE.formPassword))
    t.true(server.received[2]?.body.includes(LIVE.jsonPassword))
    // And the live caller got the real cookie.
    t.deepEqual(live[1]?.setCookie, [`session=${SET_COOKIE_SECRET}; Path=/; HttpOnly`, 'theme=dark'])
    await server.close()

    // The raw file, as bytes.
    const raw = readFileSync(file)
    assertNoSecrets(t, [raw.toString('latin1'), raw.toString('utf8')], 'raw file')
    if (ext === 'dvd.json') {
      const text = raw.toString('utf8')
      assertNoSecrets(t, jsonBodies(text), 'decoded JSON body fields')
      t.true(text.includes(`Bearer ${REDACTED}`))
      t.true(text.includes(`api_key=${REDACTED}`))
    }

    // The decoded recordings.
    const play = await DVDLoader.open(file, { ...OPTIONS, recordMode: 'none', onWarning: () => {} })
    const recordings = [...play.dvd.recordings()]
    t.is(recordings.length, 4)
    assertNoSecrets(t, textsOf(recordings), 'decoded recordings')
    const [data, form, json] = recordings
    t.is(data!.request.url, `${server.origin}/data?page=2&api_key=${REDACTED}&sort=asc`)
    t.deepEqual(
      data!.request.headers.filter(([k]) => /^(authorization|x-api-key|cookie)$/i.test(k)),
      [
        ['authorization', `Bearer ${REDACTED}`],
        ['X-Api-Key', REDACTED],
        ['cookie', `sid=${REDACTED}; lang=${REDACTED}`],
      ],
    )
    t.is(Buffer.from(form!.request.body!).toString(), `user=bob&password=${REDACTED}&remember=1`)
    // The JSON body keeps every other byte (spacing, newline, order).
    t.is(
      Buffer.from(json!.request.body!).toString(),
      `{ "user": "bob",\n  "password": "${REDACTED}", "n": [1, 2] }`,
    )
    const contentLength = json!.request.headers.find(([k]) => k.toLowerCase() === 'content-length')
    if (contentLength) t.is(Number(contentLength[1]), json!.request.body!.length)

    // Replay with other real credentials, server stopped: everything matches.
    const replayed = await scenario(play, server.origin, OTHER)
    t.deepEqual(
      replayed.map((r) => r.text),
      live.map((r) => r.text),
    )
    t.deepEqual(replayed[1]?.setCookie, [`session=${REDACTED}; Path=/; HttpOnly`, `theme=${REDACTED}`])
    t.true(play.allPlayed)
    await play.close()
  })

  test('redactSecrets: false keeps credential headers and set-cookie as they were', async (t) => {
    const server = await secretServer()
    const file = join(tempDir(), `kept.${ext}`)
    const rec = await DVDLoader.open(file, { recordMode: 'once', redactSecrets: false })
    await scenario(rec, server.origin, LIVE)
    await rec.close()
    await server.close()
    const text = await savedText(file)
    t.true(text.includes(`Bearer ${LIVE.bearer}`))
    t.true(text.includes(LIVE.xApiKey))
    t.true(text.includes(LIVE.requestCookie))
    t.true(text.includes(SET_COOKIE_SECRET))
    // No parameter filters were asked for: the query and the bodies are untouched too.
    t.true(text.includes(LIVE.queryKey))
    t.true(text.includes(LIVE.formPassword))
    t.false(text.includes(REDACTED))
  })

  test('secretHeaders replaces the default list; other headers are kept', async (t) => {
    const server = await secretServer()
    const file = join(tempDir(), `custom.${ext}`)
    const rec = await DVDLoader.open(file, { recordMode: 'once', secretHeaders: ['X-Custom-Token'] })
    await send(rec, `${server.origin}/data`, {
      headers: { authorization: 'Bearer visible-token', 'x-custom-token': 'hidden-value-123' },
    })
    await rec.close()
    await server.close()
    const text = await savedText(file)
    t.true(text.includes('visible-token'))
    t.false(text.includes('hidden-value-123'))
    t.true(text.includes(`["x-custom-token","${REDACTED}"]`))
  })

  test('vcrpy aliases: [name, replacement] pairs replace, a null replacement removes', async (t) => {
    const server = await secretServer()
    const file = join(tempDir(), `pairs.${ext}`)
    const options = {
      filter_query_parameters: [
        ['token', 'TOKEN'],
        ['drop', null],
      ],
      filter_post_data_parameters: [
        ['password', null],
        ['otp', 'OTP'],
      ],
    } as DVDOptions
    const rec = await DVDLoader.open(file, { ...options, recordMode: 'once' })
    await send(rec, `${server.origin}/data?a=1&token=t-123456&drop=d-654321`)
    await send(rec, `${server.origin}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"user":"bob","password":"pw-777888","otp":"otp-999000"}',
    })
    await rec.close()
    await server.close()
    const warnings: string[] = []
    const play = await DVDLoader.open(file, {
      ...options,
      recordMode: 'none',
      onWarning: (m) => warnings.push(m),
    })
    const [query, json] = [...play.dvd.recordings()]
    t.is(query!.request.url, `${server.origin}/data?a=1&token=TOKEN`)
    t.is(Buffer.from(json!.request.body!).toString(), '{"user":"bob","otp":"OTP"}')
    // Symmetric: other real values replay.
    t.is((await send(play, `${server.origin}/data?a=1&token=else&drop=x`)).status, 200)
    await play.close()
    t.is(warnings.length, 1)
    t.regex(warnings[0]!, /#1 POST .*\/login/)
  })

  test('a recorded response is redacted before beforeRecordResponse sees it', async (t) => {
    const server = await secretServer()
    const file = join(tempDir(), `hook.${ext}`)
    const seen: string[] = []
    const rec = await DVDLoader.open(file, {
      recordMode: 'once',
      beforeRecordResponse: (response) => {
        for (const [k, v] of response.headers) if (k.toLowerCase() === 'set-cookie') seen.push(v)
        return response
      },
    })
    await send(rec, `${server.origin}/login`, { method: 'POST', body: 'x' })
    await rec.close()
    await server.close()
    t.deepEqual(seen, [`session=${REDACTED}; Path=/; HttpOnly`, `theme=${REDACTED}`])
  })

  // Shaped like real keys, made up for the tests.
  const TOKEN = 'sk-test0123456789abcdefghijklmn'
  const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE'
  /** The echo route answers `{ method, contentType, authorization, body }`: the token comes back. */
  const call = {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: `{"note":"${AWS_KEY}"}`,
  }

  test('redactResponseBody replaces JSON members at any depth and text patterns before the DVD is written; the replay matches', async (t) => {
    const server = await startServer()
    const file = join(tempDir(), `echo.${ext}`)
    const rules = {
      redactResponseBody: { jsonFields: ['authorization'], text: [/text\/plain;charset=utf-8/i, 'QUtJQUlP'] },
    }
    const dvd = await DVDLoader.open(file, { recordMode: 'once', ...rules })
    const live = (await (await dvd.fetch(`${server.origin}/echo`, call)).json()) as Record<string, string>
    t.is(live.authorization, `Bearer ${TOKEN}`, 'the caller gets the real response')
    await dvd.close()

    t.false(readFileSync(file).includes(TOKEN))

    const replay = await DVDLoader.open(file, { recordMode: 'none' })
    const res = await replay.fetch(`${server.origin}/echo`, call)
    t.is(res.status, 200)
    const text = await res.text()
    const body = JSON.parse(text) as Record<string, string>
    t.is(body.authorization, '[REDACTED]')
    t.is(body.method, 'POST')
    t.is(body.contentType, '[REDACTED]')
    // The echoed request body, base64: the literal rule replaced the AKIA… key's first 8 characters.
    t.is(body.body, Buffer.from(call.body).toString('base64').replace('QUtJQUlP', '[REDACTED]'))
    t.is(res.headers.get('content-length'), String(Buffer.byteLength(text)))
    await replay.close()
    await server.close()
  })
}
