import { join } from 'node:path'
import type { TestFn } from 'ava'
import { type Dispatcher, request } from 'undici'
import { DVDLoader, type DVDOptions } from '../../lib/index.js'
import { startStreamServer } from '../helpers/stream_server.js'
import { tempDir } from '../helpers/tmp.js'
import type { Format } from './network_errors.js'

/** One chunk as a client saw it: its text and when it came (ms after the request was made). */
export interface SeenChunk {
  text: string
  at: number
}

/** What a streamed request gave a client: its chunks, then its failure if it failed. */
export interface SeenStream {
  chunks: SeenChunk[]
  error?: { name: string; message: string; code: unknown }
}

function failure(error: unknown): SeenStream['error'] {
  const e = error as Error & { cause?: Error & { code?: unknown }; code?: unknown }
  const cause = e.cause ?? e
  return { name: `${e.name}/${cause.name}`, message: cause.message, code: cause.code }
}

/** Reads a response body chunk by chunk through the global fetch. */
export async function fetchChunks(
  url: string,
  dispatcher: Dispatcher,
  options: { signal?: AbortSignal; onChunk?: (chunk: SeenChunk) => void } = {},
): Promise<SeenStream> {
  const seen: SeenStream = { chunks: [] }
  const decoder = new TextDecoder()
  try {
    // Counted from the call, not from the response: a loaded machine can resolve the response
    // late, after chunks that were due have already come.
    const start = performance.now()
    const res = await fetch(url, { dispatcher, signal: options.signal } as unknown as RequestInit)
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      const chunk = { text: decoder.decode(bytes), at: performance.now() - start }
      seen.chunks.push(chunk)
      options.onChunk?.(chunk)
    }
  } catch (error) {
    seen.error = failure(error)
  }
  return seen
}

/**
 * Reads a response body chunk by chunk through `undici.request` ('data' events). Events of one
 * turn of the event loop count as one chunk: live, one read from the socket can hold several HTTP
 * chunks, which a DVD keeps as one (as fetch passes them on).
 */
export async function requestChunks(url: string, dispatcher: Dispatcher): Promise<SeenStream> {
  const seen: SeenStream = { chunks: [] }
  let sameTurn = false
  try {
    const start = performance.now()
    const { body } = await request(url, { dispatcher })
    body.on('data', (bytes: Buffer) => {
      const text = bytes.toString('utf8')
      if (sameTurn) {
        seen.chunks.at(-1)!.text += text
        return
      }
      seen.chunks.push({ text, at: performance.now() - start })
      sameTurn = true
      queueMicrotask(() => {
        sameTurn = false
      })
    })
    await new Promise<void>((resolve, reject) => {
      body.on('end', resolve)
      body.on('error', reject)
    })
  } catch (error) {
    seen.error = failure(error)
  }
  return seen
}

const texts = (seen: SeenStream) => seen.chunks.map((chunk) => chunk.text)

/**
 * Registers the stream specification for DVDs stored in `format`: streamed bodies replay in the
 * chunks they were recorded in, and a stream that broke replays its chunks, then its failure.
 */
export function streamSuite(test: TestFn, format: Format): void {
  const ext = { json: 'dvd.json', binary: 'dvd.lz4', har: 'har' }[format]

  /** Reads `path` live while recording, then from the DVD, with `read`. */
  async function liveAndReplayed(
    path: string,
    read: (url: string, dispatcher: Dispatcher) => Promise<SeenStream>,
    options: DVDOptions = {},
  ): Promise<{ live: SeenStream; replayed: SeenStream }> {
    const server = await startStreamServer()
    const url = `${server.origin}${path}`
    const file = join(tempDir(), `stream.${ext}`)
    try {
      const rec = await DVDLoader.open(file, { recordMode: 'once' })
      const live = await read(url, rec.dispatcher)
      await rec.close()
      const play = await DVDLoader.open(file, { ...options, recordMode: 'none' })
      const replayed = await read(url, play.dispatcher)
      await play.close()
      return { live, replayed }
    } finally {
      await server.close()
    }
  }

  test(`${format}: Server-Sent Events replay through fetch in the chunks they arrived in`, async (t) => {
    const { live, replayed } = await liveAndReplayed('/sse?n=8&gap=25', fetchChunks)
    t.true(live.chunks.length > 1)
    t.deepEqual(texts(replayed), texts(live))
    t.is(replayed.error, undefined)
  })

  test(`${format}: NDJSON replays through undici.request in the chunks it arrived in`, async (t) => {
    const { live, replayed } = await liveAndReplayed('/ndjson?n=9&gap=25', requestChunks)
    t.true(live.chunks.length > 1)
    t.deepEqual(texts(replayed), texts(live))
  })

  test(`${format}: a stream reset mid-body replays the same chunks, then the same failure`, async (t) => {
    const { live, replayed } = await liveAndReplayed('/reset?n=4&gap=25', fetchChunks)
    t.true(live.chunks.length > 1)
    t.truthy(live.error)
    t.deepEqual(texts(replayed), texts(live))
    t.deepEqual(replayed.error, live.error)
  })

  test(`${format}: a reset stream replayed with recorded timing fails after its chunks`, async (t) => {
    const { live, replayed } = await liveAndReplayed('/reset?n=3&gap=25', requestChunks, {
      timing: 'recorded',
    })
    t.true(live.chunks.length > 1)
    t.deepEqual(texts(replayed), texts(live))
    t.deepEqual(replayed.error, live.error)
  })
}
