import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { DVDLoader, type DVDOptions, InvalidOptionError } from '../lib/index.js'
import { sseEvent, startStreamServer } from './helpers/stream_server.js'
import { tempDir } from './helpers/tmp.js'
import { fetchChunks, type SeenStream } from './suites/streams.js'

// Timing on a shared, loaded machine is coarse: timers fire late (seen: half a second late under
// a load of 12 on 2 cores), never early. The bounds below only tell "waited for its offset" from
// "came at once", "half as long" from "as long", and "stopped" from "waited for the next chunk".
const EARLY_MS = 3
const LATE_MS = 1500

/** Records `path` of a fresh stream server into a new DVD file and returns what fetch saw live. */
async function record(
  path: string,
  ext = 'dvd.json',
): Promise<{ file: string; url: string; live: SeenStream }> {
  const server = await startStreamServer()
  const file = join(tempDir(), `timed.${ext}`)
  try {
    const dvd = await DVDLoader.open(file, { recordMode: 'once' })
    const url = `${server.origin}${path}`
    const live = await fetchChunks(url, dvd.dispatcher)
    await dvd.close()
    return { file, url, live }
  } finally {
    await server.close()
  }
}

/** Replays the only recording of `file` (its URL read from the file) with `options`. */
async function replay(file: string, url: string, options: DVDOptions): Promise<SeenStream> {
  const dvd = await DVDLoader.open(file, { ...options, recordMode: 'none' })
  try {
    return await fetchChunks(url, dvd.dispatcher)
  } finally {
    await dvd.close()
  }
}

/** The URL and recorded chunk offsets of the only recording of a JSON DVD. */
function recorded(file: string): { url: string; offsets: number[] } {
  const [[request, response]] = JSON.parse(readFileSync(file, 'utf8'))
  let at = 0
  return { url: request.url, offsets: response.chunks.gaps_ms.map((gap: number) => (at += gap)) }
}

test('timing is validated like the other options', async (t) => {
  const file = join(tempDir(), 'never.dvd.json')
  for (const timing of ['fast', -1, Number.NaN, Number.POSITIVE_INFINITY, '1', 1001]) {
    await t.throwsAsync(DVDLoader.open(file, { timing } as unknown as DVDOptions), {
      instanceOf: InvalidOptionError,
      message: /timing must be 'instant', 'recorded' or a factor/,
    })
  }
})

test('while recording, each chunk reaches the client as it arrives', async (t) => {
  const server = await startStreamServer()
  const dvd = await DVDLoader.open(join(tempDir(), 'gated.dvd.json'), { recordMode: 'once' })
  const sentWhenFirstSeen: number[] = []
  const live = await fetchChunks(`${server.origin}/gated?n=4&gap=5`, dvd.dispatcher, {
    onChunk: () => {
      sentWhenFirstSeen.push(server.gatedSent())
      // The server sends the rest only once the client has the first event.
      server.openGate()
    },
  })
  await dvd.close()
  await server.close()
  t.is(sentWhenFirstSeen[0], 1)
  t.is(live.chunks.map((c) => c.text).join(''), [0, 1, 2, 3].map(sseEvent).join(''))
})

test("timing: 'recorded' hands each chunk over at its recorded offset", async (t) => {
  const { file, live } = await record('/sse?n=6&gap=60')
  const { url, offsets } = recorded(file)
  t.is(offsets.length, live.chunks.length)
  const replayed = await replay(file, url, { timing: 'recorded' })
  t.deepEqual(
    replayed.chunks.map((c) => c.text),
    live.chunks.map((c) => c.text),
  )
  for (const [i, chunk] of replayed.chunks.entries()) {
    t.true(chunk.at >= offsets[i]! - EARLY_MS, `chunk ${i} at ${chunk.at} ms, recorded at ${offsets[i]} ms`)
    t.true(chunk.at <= offsets[i]! + LATE_MS, `chunk ${i} at ${chunk.at} ms, recorded at ${offsets[i]} ms`)
  }
})

test('a timing factor of 0.5 plays a stream in about half its recorded time', async (t) => {
  const { file } = await record('/ndjson?n=5&gap=600')
  const { url, offsets } = recorded(file)
  const total = offsets.at(-1)!
  const replayed = await replay(file, url, { timing: 0.5 })
  const last = replayed.chunks.at(-1)!.at
  t.true(last >= total / 2 - EARLY_MS, `last chunk at ${last} ms, recorded at ${total} ms`)
  // Half the recorded time is a few hundred milliseconds short of all of it.
  t.true(last < total - EARLY_MS, `last chunk at ${last} ms, recorded at ${total} ms`)
})

test('by default a stream replays in its chunks without waiting for their offsets', async (t) => {
  const { file, live } = await record('/sse?n=5&gap=150')
  const { url, offsets } = recorded(file)
  const replayed = await replay(file, url, {})
  t.is(replayed.chunks.length, live.chunks.length)
  t.true(replayed.chunks.at(-1)!.at < offsets.at(-1)! / 2)
})

test('an abort during a timed replay stops it at once', async (t) => {
  const { file, url } = await record('/sse?n=2&gap=2500', 'dvd.lz4')
  const dvd = await DVDLoader.open(file, { recordMode: 'none', timing: 'recorded' })
  const controller = new AbortController()
  let abortedAt = 0
  const started = performance.now()
  const seen = await fetchChunks(url, dvd.dispatcher, {
    signal: controller.signal,
    onChunk: () => {
      abortedAt = performance.now()
      controller.abort()
    },
  })
  const stoppedAfter = performance.now() - abortedAt
  await dvd.close()
  t.is(seen.chunks.length, 1)
  t.is(seen.error?.name, 'AbortError/AbortError')
  // The next chunk was due 2.5 s later; stopping waited for none of it.
  t.true(stoppedAfter < 1500, `stopped ${stoppedAfter} ms after the abort`)
  t.true(performance.now() - started < 2000)
})
