/**
 * A streaming server on 127.0.0.1: Server-Sent Events and NDJSON sent as paced chunks, a stream
 * that resets its connection mid-body, and one that waits for the client before finishing.
 */
import { once } from 'node:events'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export interface StreamServer {
  origin: string
  /** Lets the current `/gated` stream send its remaining events. */
  openGate: () => void
  /** How many events the `/gated` stream has sent so far. */
  gatedSent: () => number
  close: () => Promise<void>
}

/** The `i`-th Server-Sent Event, of varying size like a model's streamed tokens. */
export function sseEvent(i: number): string {
  return `event: delta\ndata: ${JSON.stringify({ index: i, text: 'token '.repeat(1 + (i % 4)) })}\n\n`
}

/** The `i`-th NDJSON line. */
export function ndjsonLine(i: number): string {
  return `${JSON.stringify({ id: i, done: false, items: Array.from({ length: i % 3 }, (_, k) => k) })}\n`
}

/** Writes `count` pieces `gap` ms apart, waiting for each to be flushed. */
async function paced(res: ServerResponse, count: number, gap: number, piece: (i: number) => string) {
  for (let i = 0; i < count; i++) {
    if (i > 0) await sleep(gap)
    await new Promise<void>((resolve) => res.write(piece(i), () => resolve()))
  }
}

/**
 * Starts the server. Query parameters: `n` pieces (default 8), `gap` ms between them (default 20).
 * - `/sse`, `/ndjson`: paced events then the end of the body;
 * - `/reset`: paced events, then the connection is destroyed mid-body;
 * - `/gated`: one event, then the rest only after {@link StreamServer.openGate}.
 */
export async function startStreamServer(): Promise<StreamServer> {
  let gate: (() => void) | undefined
  let gatedSent = 0
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const count = Number(url.searchParams.get('n') ?? 8)
    const gap = Number(url.searchParams.get('gap') ?? 20)
    switch (url.pathname) {
      case '/sse':
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        await paced(res, count, gap, sseEvent)
        return void res.end()
      case '/ndjson':
        res.writeHead(200, { 'content-type': 'application/x-ndjson' })
        await paced(res, count, gap, ndjsonLine)
        return void res.end()
      case '/reset':
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        await paced(res, count, gap, sseEvent)
        await sleep(gap)
        return void res.socket?.destroy()
      case '/gated': {
        gatedSent = 0
        const opened = new Promise<void>((resolve) => {
          gate = resolve
        })
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        await new Promise<void>((resolve) => res.write(sseEvent(0), () => resolve()))
        gatedSent = 1
        await opened
        await paced(res, count - 1, gap, (i) => sseEvent(i + 1))
        gatedSent = count
        return void res.end()
      }
      default:
        res.writeHead(404)
        res.end()
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    openGate: () => gate?.(),
    gatedSent: () => gatedSent,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
