import { readFileSync } from 'node:fs'
import http, * as httpNamespace from 'node:http'
import { get as namedGet } from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import type { TestFn } from 'ava'
import axios from 'axios'
import { HttpsProxyAgent } from 'https-proxy-agent'
import Stripe from 'stripe'
import {
  DVDLoader,
  type DVDOptions,
  type DVDResponse,
  InvalidOptionError,
  UnmatchedRequestError,
  UnsupportedAgentError,
} from '../../lib/index.js'
import { TestDVD } from '../../lib/testing/common.js'
import {
  type CallOptions,
  type Client,
  clients,
  comparable,
  failureCode,
  type Received,
} from '../helpers/http_clients.js'
import { closedPort, GZIP_TEXT, largeBody, startServer } from '../helpers/server.js'
import { tempDir } from '../helpers/tmp.js'
import type { Format } from './network_errors.js'

const TLS = {
  key: readFileSync(new URL('../../../test/fixtures/tls/key.pem', import.meta.url)),
  cert: readFileSync(new URL('../../../test/fixtures/tls/cert.pem', import.meta.url)),
}

/** Routes every client is recorded and replayed on. */
const ROUTES = [
  '/json?page=2',
  '/gzip',
  '/br',
  '/bin',
  '/status/500',
  '/reason',
  '/redirect',
  '/multi-header',
]

/**
 * Registers the `node:http` specification for DVDs stored in `format`. Replays run as CI runs
 * them (`CI=true`, so mode `none`): nothing may reach the network, and the server is stopped.
 */
export function nodeHttpSuite(test: TestFn, format: Format): void {
  process.env.CI = 'true'
  // The AWS SDK warns on Node 20 that its 2027 releases will need Node 22.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
  const ext = format === 'json' ? 'dvd.json' : 'dvd.lz4'
  const http_only: DVDOptions = { intercept: ['http'] }
  // Compared byte for byte with what the server sent, cookies included.
  const unredacted: DVDOptions = { ...http_only, redactSecrets: false }
  const newFile = (name: string) => join(tempDir(), `${name}.${ext}`)

  /** Runs `calls` live while recording, stops the server, runs them again from the DVD. */
  async function recordThenReplay<T>(
    calls: (origin: string) => Promise<T>,
    options: DVDOptions = http_only,
    tls = false,
  ): Promise<{ live: T; replayed: T; hits: number; file: string }> {
    const server = await startServer(tls ? { tls: TLS } : {})
    const file = newFile('http')
    const live = await DVDLoader.use(file, { ...options, recordMode: 'once' }, () => calls(server.origin))
    const hits = server.hits()
    await server.close()
    const replayed = await DVDLoader.use(file, options, () => calls(server.origin))
    return { live, replayed, hits, file }
  }

  const allRoutes = (client: Client) => async (origin: string) => {
    const seen: Record<string, Received> = {}
    for (const route of ROUTES) {
      const { status, headers, body } = await client(origin + route)
      seen[route] = { status, headers: comparable(headers), body }
    }
    return seen
  }

  for (const [name, client] of Object.entries(clients)) {
    test(`${name}: status, headers and body bytes replay as they were received live`, async (t) => {
      const { live, replayed, hits } = await recordThenReplay(allRoutes(client), unredacted)
      t.true(hits >= ROUTES.length)
      t.deepEqual(replayed, live)
      // Every client but bare http.get decompresses, as it did live.
      const raw = name === 'http.get'
      const gzip = live['/gzip']!.body
      const br = live['/br']!.body
      t.is((raw ? gunzipSync(gzip) : gzip).toString(), GZIP_TEXT)
      t.is((raw ? brotliDecompressSync(br) : br).toString(), 'brotli '.repeat(100))
      // Bare http.get does not follow redirects; the others do, on replay as live.
      t.is(live['/redirect']!.status, raw ? 302 : 200)
    })
  }

  test('the AWS SDK S3 client, pointed at a local endpoint, records and replays', async (t) => {
    const { live, replayed } = await recordThenReplay(async (origin) => {
      const s3 = new S3Client({
        endpoint: origin,
        forcePathStyle: true,
        region: 'us-east-1',
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
        maxAttempts: 1,
      })
      const object = await s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'object.txt' }))
      s3.destroy()
      return { text: await object.Body!.transformToString(), etag: object.ETag, type: object.ContentType }
    })
    t.deepEqual(live, { text: 'object body', etag: '"abc"', type: 'text/plain' })
    t.deepEqual(replayed, live)
  })

  test('the Stripe SDK, pointed at a local host, records and replays', async (t) => {
    const { live, replayed, file } = await recordThenReplay(async (origin) => {
      const { port } = new URL(origin)
      const stripe = new Stripe('sk_test_local', {
        host: '127.0.0.1',
        port,
        protocol: 'http',
        maxNetworkRetries: 0,
      })
      const customer = await stripe.customers.retrieve('cus_123')
      return { id: customer.id, email: (customer as Stripe.Customer).email }
    })
    t.deepEqual(live, { id: 'cus_123', email: 'jo@example.com' })
    t.deepEqual(replayed, live)
    t.false(readFileSync(file).includes('sk_test_local'))
  })

  test('named and namespace ESM imports of node:http are covered too', async (t) => {
    const viaGet = (get: typeof http.get, url: string) =>
      new Promise<string>((resolve, reject) => {
        get(url, (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk) => {
            text += chunk
          })
          res.on('end', () => resolve(text))
        }).on('error', reject)
      })
    const { live, replayed, hits } = await recordThenReplay(async (origin) => [
      await viaGet(namedGet, `${origin}/counter`),
      await viaGet(httpNamespace.get, `${origin}/counter`),
    ])
    t.deepEqual(live, ['call 1', 'call 2'])
    t.is(hits, 2)
    t.deepEqual(replayed, live)
  })

  test('gzip and br bodies are recorded as sent, compressed, with their content-encoding', async (t) => {
    const { file } = await recordThenReplay((origin) =>
      Promise.all([clients.axios!(`${origin}/gzip`), clients.got!(`${origin}/br`)]),
    )
    const dvd = await DVDLoader.open(file)
    const encodings = [...dvd.dvd.recordings()].map((r) => {
      const outcome = r.outcome as { headers: [string, string][]; body: Uint8Array }
      return [outcome.headers.find(([n]) => n.toLowerCase() === 'content-encoding')?.[1], outcome.body[0]]
    })
    t.deepEqual(encodings.sort(), [
      ['br', encodings.find(([e]) => e === 'br')![1]],
      ['gzip', 0x1f],
    ])
  })

  test('a 5 MiB body replays byte for byte', async (t) => {
    const size = 5 * 1024 * 1024
    const { live, replayed } = await recordThenReplay(async (origin) => {
      const [a, b] = await Promise.all([
        clients.axios!(`${origin}/large?bytes=${size}`),
        clients['http.get']!(`${origin}/large?bytes=${size}`),
      ])
      return [a.body, b.body]
    })
    t.is(live[0]!.length, size)
    t.true(live[0]!.equals(largeBody(size)))
    t.true(replayed[0]!.equals(live[0]!))
    t.true(replayed[1]!.equals(live[1]!))
  })

  test('a streamed response replays in the chunks it arrived in, instantly or at its recorded pace', async (t) => {
    const events = (url: string) =>
      new Promise<string[]>((resolve, reject) => {
        http
          .get(url, (res) => {
            const seen: string[] = []
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => seen.push(chunk))
            res.on('end', () => resolve(seen))
          })
          .on('error', reject)
      })
    const server = await startServer()
    const url = `${server.origin}/events`
    const file = newFile('events')
    const live = await DVDLoader.use(file, { ...http_only, recordMode: 'once' }, () => events(url))
    await server.close()
    const text = 'data: one\n\ndata: two\n\ndata: three\n\n'
    t.is(live.join(''), text)
    // The DVD keeps the reads the body came in: events written 30 ms apart arrive apart, unless
    // the machine is too loaded to read them in time (then they come in one read).
    const recorded = (await DVDLoader.open(file)).dvd.get(0).outcome as DVDResponse
    const lengths = recorded.chunks?.lengths ?? [text.length]
    t.is(
      lengths.reduce((sum, length) => sum + length, 0),
      text.length,
    )
    t.true(lengths.length <= live.length)
    // On replay, the client may merge chunks handed over close together: the text is what counts.
    t.is((await DVDLoader.use(file, http_only, () => events(url))).join(''), text)
    t.is((await DVDLoader.use(file, { ...http_only, timing: 'recorded' }, () => events(url))).join(''), text)
  })

  test('a streamed upload is recorded whole and matched on replay', async (t) => {
    const upload = (origin: string) =>
      new Promise<string>((resolve, reject) => {
        const req = http.request(`${origin}/echo`, { method: 'POST' }, (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk) => {
            text += chunk
          })
          res.on('end', () => resolve(text))
        })
        req.on('error', reject)
        Readable.from(['part one, ', 'part two, ', 'part three']).pipe(req)
      })
    const { live, replayed, file } = await recordThenReplay(upload)
    t.is(Buffer.from(JSON.parse(live).body, 'base64').toString(), 'part one, part two, part three')
    t.is(replayed, live)
    const dvd = await DVDLoader.open(file)
    t.is(Buffer.from(dvd.dvd.get(0).request.body!).toString(), 'part one, part two, part three')
  })

  test('a refused connection replays as the same ECONNREFUSED, from every client', async (t) => {
    const port = await closedPort()
    const { live, replayed } = await recordThenReplay(async () => {
      const codes: unknown[] = []
      for (const client of Object.values(clients)) {
        codes.push((await failureCode(client(`http://127.0.0.1:${port}/x`))).code)
      }
      return codes
    })
    t.true(live.every((code) => code === 'ECONNREFUSED'))
    t.deepEqual(replayed, live)
  })

  test('a DNS failure, a reset and a timeout replay with the codes they had live', async (t) => {
    const { live, replayed } = await recordThenReplay(async (origin) => [
      await failureCode(clients.axios!('http://no-such-host.invalid/')),
      await failureCode(clients.got!(`${origin}/hang-up`)),
      await failureCode(clients['http.get']!(`${origin}/hang-up`)),
      await failureCode(clients.axios!(`${origin}/slow?ms=3000`, { timeout: 150 })),
      await failureCode(clients.got!(`${origin}/slow?ms=3000`, { timeout: 150 })),
      await failureCode(clients['http.get']!(`${origin}/slow?ms=3000`, { timeout: 150 })),
    ])
    t.true(['ENOTFOUND', 'EAI_AGAIN'].includes(String(live[0]!.code)))
    t.is(live[1]!.code, 'ECONNRESET')
    t.is(live[2]!.code, 'ECONNRESET')
    t.is(live[3]!.code, 'ECONNABORTED')
    t.is(live[4]!.code, 'ETIMEDOUT')
    t.is(live[5]!.message, 'timed out')
    t.deepEqual(replayed, live)
  })

  test('a body cut short by the caller giving up replays the same failure', async (t) => {
    const { live, replayed } = await recordThenReplay(async (origin) => {
      const codes: Record<string, unknown> = {}
      // Not axios: on a timeout mid-body it rejects with ECONNABORTED or ERR_BAD_RESPONSE, by
      // the order of two of its own events, live as well as replayed.
      for (const name of ['got', 'superagent', 'http.get']) {
        // The server sends its first bytes at once and the rest after 3 s.
        codes[name] = await failureCode(clients[name]!(`${origin}/slow-body`, { timeout: 800 }))
      }
      return codes
    })
    t.like(live, {
      got: { code: 'ETIMEDOUT' },
      superagent: { code: 'ECONNABORTED' },
      'http.get': { message: 'timed out' },
    })
    t.deepEqual(replayed, live)
  })

  test('an abort signal ends a replayed request as it ended the live one', async (t) => {
    const call = (origin: string) =>
      failureCode(axios.get(`${origin}/slow?ms=3000`, { signal: AbortSignal.timeout(150) }))
    const { live, replayed } = await recordThenReplay(call)
    t.is(live.code, 'ERR_CANCELED')
    t.deepEqual(replayed, live)
  })

  test.serial('an unmatched request fails in axios with the same error fetch gets', async (t) => {
    const server = await startServer()
    const file = newFile('unmatched')
    await DVDLoader.use(file, { recordMode: 'once' }, () => fetch(`${server.origin}/json`))
    await server.close()
    const [, fetchCause, viaAxios] = await DVDLoader.use(file, {}, async () => [
      await fetch(`${server.origin}/json`),
      await fetch(`${server.origin}/counter`).catch((error: Error) => error.cause),
      await axios.get(`${server.origin}/counter`).catch((error: unknown) => error),
    ])
    const unmatched = fetchCause as UnmatchedRequestError
    const axiosError = viaAxios as Error & { code: string; cause: unknown }
    t.true(unmatched instanceof UnmatchedRequestError)
    t.is(axiosError.code, 'DVD_ERR_UNMATCHED')
    t.true(axiosError.cause instanceof UnmatchedRequestError)
    t.is(axiosError.message, unmatched.message)
  })

  test.serial('a DVD recorded through fetch replays through axios, and the other way round', async (t) => {
    const routes = ['/json?x=1', '/gzip', '/bin']
    const viaFetch = async (url: string) => {
      const res = await fetch(url)
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) }
    }
    const viaAxios = async (url: string) => {
      const { status, body } = await clients.axios!(url)
      return { status, body }
    }
    for (const [recordWith, replayWith] of [
      [viaFetch, viaAxios],
      [viaAxios, viaFetch],
    ] as const) {
      const server = await startServer()
      const file = newFile('shared')
      const live = await DVDLoader.use(file, { recordMode: 'once' }, () =>
        Promise.all(routes.map((route) => recordWith(server.origin + route))),
      )
      await server.close()
      const replayed = await DVDLoader.use(file, {}, () =>
        Promise.all(routes.map((route) => replayWith(server.origin + route))),
      )
      t.deepEqual(replayed, live)
      t.is(server.hits(), routes.length)
    }
  })

  test.serial('one DVD answers fetch and axios alike, each request recorded once', async (t) => {
    const { live, replayed, hits, file } = await recordThenReplay(
      async (origin) => [
        await fetch(`${origin}/counter`).then((r) => r.text()),
        (await clients.axios!(`${origin}/counter`)).body.toString(),
        await fetch(`${origin}/counter`).then((r) => r.text()),
      ],
      {},
    )
    t.deepEqual(live, ['call 1', 'call 2', 'call 3'])
    t.deepEqual(replayed, live)
    t.is(hits, 3)
    t.is((await DVDLoader.open(file)).count, 3)
  })

  test('two DVDs in two concurrent async contexts each answer their own requests', async (t) => {
    const server = await startServer()
    const files = [newFile('first'), newFile('second')]
    // The same request recorded with two different answers, one per DVD.
    for (const file of files) {
      await DVDLoader.use(file, { ...http_only, recordMode: 'once' }, () =>
        clients.axios!(`${server.origin}/counter`),
      )
    }
    await server.close()
    const inContext = (file: string) =>
      DVDLoader.use(file, { ...http_only, allowPlaybackRepeats: true }, async () => {
        const bodies: string[] = []
        for (let i = 0; i < 3; i++) {
          await new Promise((resolve) => setImmediate(resolve))
          bodies.push((await clients['http.get']!(`${server.origin}/counter`)).body.toString())
        }
        return bodies
      })
    const [first, second] = await Promise.all(files.map(inContext))
    t.deepEqual(first, ['call 1', 'call 1', 'call 1'])
    t.deepEqual(second, ['call 2', 'call 2', 'call 2'])
  })

  test('a nested DVD answers inside its scope, the outer one again after it', async (t) => {
    const server = await startServer()
    const outer = newFile('outer')
    const inner = newFile('inner')
    await DVDLoader.use(outer, { ...http_only, recordMode: 'once' }, async () => {
      await clients.got!(`${server.origin}/counter`)
      await DVDLoader.use(inner, { ...http_only, recordMode: 'once' }, () =>
        clients.got!(`${server.origin}/counter`),
      )
      await clients.got!(`${server.origin}/counter`)
    })
    await server.close()
    t.is((await DVDLoader.open(outer)).count, 2)
    t.is((await DVDLoader.open(inner)).count, 1)
    const bodies = await DVDLoader.use(outer, http_only, async () => {
      const seen = [(await clients.got!(`${server.origin}/counter`)).body.toString()]
      seen.push(
        await DVDLoader.use(inner, http_only, async () =>
          (await clients.got!(`${server.origin}/counter`)).body.toString(),
        ),
      )
      seen.push((await clients.got!(`${server.origin}/counter`)).body.toString())
      return seen
    })
    t.deepEqual(bodies, ['call 1', 'call 2', 'call 3'])
  })

  test('play once, repeats, new episodes and secret redaction hold for node:http', async (t) => {
    const server = await startServer()
    const file = newFile('modes')
    const token = { authorization: 'Bearer live-secret' }
    await DVDLoader.use(file, { ...http_only, recordMode: 'once' }, async () => {
      await clients.axios!(`${server.origin}/counter`, { headers: token })
      await clients.axios!(`${server.origin}/counter`, { headers: token })
    })
    const text = readFileSync(file)
    t.false(text.includes('live-secret'))
    const counter = (o: CallOptions = {}) =>
      clients.axios!(`${server.origin}/counter`, o).then((r) => r.body.toString())
    // Played once each, in order; a third request has nothing left to play.
    const once = await DVDLoader.use(file, http_only, async () => [
      await counter({ headers: { authorization: 'Bearer other' } }),
      await counter(),
      await failureCode(counter()).then((f) => f.code),
    ])
    t.deepEqual(once, ['call 1', 'call 2', 'DVD_ERR_UNMATCHED'])
    const repeats = await DVDLoader.use(file, { ...http_only, allowPlaybackRepeats: true }, async () => [
      await counter(),
      await counter(),
      await counter(),
    ])
    t.deepEqual(repeats, ['call 1', 'call 2', 'call 2'])
    // `call 2` is left unplayed on purpose.
    const quiet = { onWarning: () => {} }
    const episodes = await DVDLoader.use(
      file,
      { ...http_only, ...quiet, recordMode: 'new_episodes' },
      async () => [await counter(), await clients.axios!(`${server.origin}/json`).then((r) => r.status)],
    )
    t.deepEqual(episodes, ['call 1', 200])
    t.is((await DVDLoader.open(file)).count, 3)
    await server.close()
  })

  test('hooks rewrite node:http requests before matching and responses before saving', async (t) => {
    const options: DVDOptions = {
      ...http_only,
      beforeRecordRequest: (request) => ({ ...request, url: request.url.replace(/\?.*$/, '') }),
      beforeRecordResponse: (response) => ({
        ...response,
        headers: [...response.headers, ['x-hooked', 'yes']],
      }),
    }
    const { live, replayed } = await recordThenReplay(async (origin) => {
      const res = await clients.superagent!(`${origin}/json?nonce=${Math.random()}`)
      return { status: res.status, hooked: res.headers['x-hooked'] ?? null }
    }, options)
    t.deepEqual(live, { status: 200, hooked: null })
    t.deepEqual(replayed, { status: 200, hooked: 'yes' })
  })

  test("a test helper's DVD, installed for http in the test, records and replays axios", async (t) => {
    const server = await startServer()
    const file = newFile('helper')
    const run = async (options: DVDOptions) => {
      const dvd = new TestDVD(t.title, file, options)
      ;(await dvd.open()).install({ intercept: ['http'] })
      const { body } = await clients.axios!(`${server.origin}/counter`)
      await dvd.finish(true)
      return body.toString()
    }
    t.is(await run({ recordMode: 'once' }), 'call 1')
    await server.close()
    t.is(await run({}), 'call 1')
  })

  test('a proxy agent replays, and recording through it fails with UnsupportedAgentError', async (t) => {
    const server = await startServer()
    // A CONNECT proxy on 127.0.0.1, as https-proxy-agent speaks to.
    const proxy = http.createServer()
    proxy.on('connect', (req, socket, head) => {
      const [host, port] = String(req.url).split(':')
      const upstream = net.connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
        upstream.write(head)
        upstream.pipe(socket).pipe(upstream)
      })
      upstream.on('error', () => socket.destroy())
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    const { port } = proxy.address() as net.AddressInfo
    const agent = new HttpsProxyAgent(`http://127.0.0.1:${port}`)
    const viaProxy = () =>
      axios.get(`${server.origin}/counter`, { httpAgent: agent, proxy: false, responseType: 'text' })
    const file = newFile('proxy')
    const failure = await DVDLoader.use(file, { ...http_only, recordMode: 'once' }, () =>
      viaProxy().catch((error: Error & { cause?: unknown }) => error.cause),
    )
    t.true(failure instanceof UnsupportedAgentError)
    t.is((failure as UnsupportedAgentError).code, 'DVD_ERR_AGENT')
    // Recorded without the proxy, the same request replays through it.
    await DVDLoader.use(file, { ...http_only, recordMode: 'once' }, () =>
      clients.axios!(`${server.origin}/counter`),
    )
    await new Promise<void>((resolve) => proxy.close(() => resolve()))
    await server.close()
    const replayed = await DVDLoader.use(file, http_only, async () => (await viaProxy()).data)
    t.is(replayed, 'call 1')
  })

  test('an upgrade request (a WebSocket handshake) passes through and is not recorded', async (t) => {
    const server = http.createServer()
    server.on('upgrade', (_req, socket) => {
      socket.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    const file = newFile('upgrade')
    const status = await DVDLoader.use(file, { ...http_only, recordMode: 'once' }, async (dvd) => {
      const code = await new Promise<number>((resolve, reject) => {
        http
          .request(`http://127.0.0.1:${port}/socket`, {
            headers: { connection: 'Upgrade', upgrade: 'websocket' },
          })
          .on('upgrade', (res, socket) => {
            socket.destroy()
            resolve(res.statusCode ?? 0)
          })
          .on('error', reject)
          .end()
      })
      t.is(dvd.count, 0)
      return code
    })
    t.is(status, 101)
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  test('https.get to a server with a test certificate records and replays', async (t) => {
    const get = (url: string) =>
      new Promise<Received>((resolve, reject) => {
        https
          .get(url, { ca: TLS.cert }, (res) => {
            const chunks: Buffer[] = []
            res.on('data', (chunk: Buffer) => chunks.push(chunk))
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: comparable(res.headers),
                body: Buffer.concat(chunks),
              }),
            )
          })
          .on('error', reject)
      })
    const { live, replayed, hits } = await recordThenReplay(
      async (origin) => [
        await get(`${origin}/json`),
        await clients.axios!(`${origin}/bin`, {}).catch((e: Error) => e.message),
      ],
      http_only,
      true,
    )
    t.true(origin(live[0] as Received))
    t.is(hits, 1)
    t.deepEqual(replayed[0], live[0])
    function origin(received: Received): boolean {
      return received.status === 200 && JSON.parse(received.body.toString()).ok === true
    }
  })

  // Serial: its last requests are made where no DVD was ever installed (see the test on intercept).
  test.serial('keep-alive agents work while recording, replaying, and live again after', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const viaAgent = (url: string) =>
      axios.get(url, { httpAgent: agent, responseType: 'text' }).then((r) => r.data as string)
    const { live, replayed } = await recordThenReplay(async (origin) => [
      await viaAgent(`${origin}/counter`),
      await viaAgent(`${origin}/counter`),
      await viaAgent(`${origin}/counter`),
    ])
    t.deepEqual(live, ['call 1', 'call 2', 'call 3'])
    t.deepEqual(replayed, live)
    const server = await startServer()
    t.deepEqual(
      [await viaAgent(`${server.origin}/counter`), await viaAgent(`${server.origin}/counter`)],
      ['call 1', 'call 2'],
    )
    agent.destroy()
    await server.close()
  })

  // Serial: a request made where no DVD was ever installed goes to the DVD installed last.
  test.serial('intercept chooses what an installed DVD covers, and is validated', async (t) => {
    const server = await startServer()
    const file = newFile('choice')
    await DVDLoader.use(file, { ...http_only, recordMode: 'once' }, () =>
      clients.axios!(`${server.origin}/json`),
    )
    const hits = server.hits()
    // Only fetch covered: axios reaches the live server even in mode none.
    const dvd = await DVDLoader.open(file, { recordMode: 'none', onWarning: () => {} })
    dvd.install({ intercept: ['fetch'] })
    t.is((await clients.axios!(`${server.origin}/counter`)).body.toString(), 'call 1')
    t.is(server.hits(), hits + 1)
    dvd.uninstall()
    for (const intercept of [[], ['xhr'], 'http', ['http', 'http']]) {
      t.throws(() => dvd.install({ intercept } as never), { instanceOf: InvalidOptionError })
    }
    await t.throwsAsync(DVDLoader.open(file, { intercept: ['socket'] } as never), {
      instanceOf: InvalidOptionError,
    })
    await dvd.close()
    await server.close()
  })
}
