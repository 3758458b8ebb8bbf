/**
 * A real HTTP server on 127.0.0.1 for the tests: each route answers like a kind of API the
 * library must record and replay exactly. Tests start it, record through it, stop it, and replay.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { brotliCompressSync, gzipSync } from 'node:zlib'

/** Every byte value once, in order. */
export const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i))

/** 8 MiB of deterministic, poorly compressible bytes. */
export function largeBody(size = 8 * 1024 * 1024): Buffer {
  const bytes = Buffer.alloc(size)
  let x = 0x2545f491
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    bytes[i] = x & 0xff
  }
  return bytes
}

export const GZIP_TEXT = JSON.stringify({ zipped: true, pad: 'x'.repeat(500) })

export interface TestServer {
  /** `http://127.0.0.1:PORT` */
  origin: string
  port: number
  /** How many requests reached the server; with `path` (path and query), how many asked for it. */
  hits: (path?: string) => number
  close: () => Promise<void>
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>

function routes(): Record<string, Route> {
  let counter = 0
  let large: Buffer | undefined
  return {
    '/json': (_req, res, url) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ ok: true, query: Object.fromEntries(url.searchParams) }))
    },
    '/gzip': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
      res.end(gzipSync(GZIP_TEXT))
    },
    '/br': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'br' })
      res.end(brotliCompressSync(Buffer.from('brotli '.repeat(100))))
    },
    '/bin': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.end(ALL_BYTES)
    },
    '/empty': (_req, res) => {
      res.writeHead(204)
      res.end()
    },
    '/not-modified': (_req, res) => {
      res.writeHead(304, { etag: '"v1"' })
      res.end()
    },
    '/status/500': (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' })
      res.end('boom')
    },
    '/redirect': (_req, res) => {
      res.writeHead(302, { location: '/redirect-2' })
      res.end()
    },
    '/redirect-2': (_req, res) => {
      res.writeHead(301, { location: '/json?from=redirect' })
      res.end()
    },
    '/large': (_req, res, url) => {
      large ??= largeBody()
      const bytes = large.subarray(0, Number(url.searchParams.get('bytes') ?? large.length))
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length })
      res.end(bytes)
    },
    '/echo': async (req, res) => {
      const body = await readAll(req)
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          method: req.method,
          contentType: req.headers['content-type'] ?? null,
          authorization: req.headers.authorization ?? null,
          body: body.toString('base64'),
        }),
      )
    },
    '/counter': (_req, res) => {
      counter++
      res.setHeader('content-type', 'text/plain')
      res.end(`call ${counter}`)
    },
    '/multi-header': (_req, res) => {
      res.setHeader('set-cookie', ['a=1', 'b=2'])
      res.end('ok')
    },
    '/reason': (_req, res) => {
      res.statusMessage = 'Totally Fine'
      res.end('ok')
    },
    '/slow': (_req, res, url) => {
      const timer = setTimeout(() => res.end('late'), Number(url.searchParams.get('ms') ?? 2000))
      res.on('close', () => clearTimeout(timer))
    },
    '/slow-body': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('partial ')
      const timer = setTimeout(() => res.end('rest'), 3000)
      res.on('close', () => clearTimeout(timer))
    },
    '/events': async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const data of ['one', 'two', 'three']) {
        await new Promise((resolve) => res.write(`data: ${data}\n\n`, resolve))
        await new Promise((resolve) => setTimeout(resolve, 30))
      }
      res.end()
    },
    // An S3 object and a Stripe customer, as those SDKs ask for them (path-style S3 URLs).
    '/bucket/object.txt': (_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        etag: '"abc"',
        'last-modified': 'Tue, 01 Dec 2026 00:00:00 GMT',
      })
      res.end('object body')
    },
    '/v1/customers/cus_123': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_1' })
      res.end(JSON.stringify({ id: 'cus_123', object: 'customer', email: 'jo@example.com' }))
    },
    '/hang-up': (req) => {
      req.socket.destroy()
    },
  }
}

/** A certificate and its key, for a server speaking HTTPS. */
export interface TlsIdentity {
  key: Buffer
  cert: Buffer
}

/** Starts the test server on 127.0.0.1 with a free port; over HTTPS when given a certificate. */
export async function startServer(options: { tls?: TlsIdentity } = {}): Promise<TestServer> {
  const table = routes()
  const seen: string[] = []
  const listener = async (req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.url ?? '/')
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const route = table[url.pathname]
    if (!route) {
      res.writeHead(404)
      res.end('no such route')
      return
    }
    await route(req, res, url)
  }
  const server: Server = options.tls ? createTlsServer(options.tls, listener) : createServer(listener)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    origin: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    hits: (path) => (path === undefined ? seen.length : seen.filter((p) => p === path).length),
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
