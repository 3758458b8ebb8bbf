// How closely a replayed stream keeps its recorded pace, and what recording costs the first byte:
//
//   npm run build && node benchmark/stream-timing.mjs [--chunks=1000] [--streams=4] [--ttfb=300]
//
// 1. Timing error per chunk with `timing: 'recorded'`: a server on 127.0.0.1 sends `--streams`
//    Server-Sent-Events streams of chunks spaced 2 to 20 ms apart (seeded), `--chunks` in all;
//    each is recorded through fetch into a JSON DVD, then replayed through fetch with recorded
//    timing. A chunk's error is when fetch's reader got it on replay (ms after the response
//    resolved) minus its recorded offset. Chunks are paired by the byte offset where they end, so a
//    replayed chunk that reached the reader merged with the next counts once.
// 2. Time to first byte while recording against live: a server answers headers and a first event at
//    once, then the rest 50 ms later. The same request goes `--ttfb` times through a plain undici
//    Agent (live) and through a DVD recording (mode `all`), alternating; the figure is the time
//    from calling fetch to the first chunk read.
//
// Figures are medians and worst cases of this machine at this moment; a shared machine moves the
// worst case by several milliseconds.
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent } from 'undici'
import { DVDLoader } from '../dist/lib/index.js'

const opt = (name, fallback) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`))
  return arg ? Number(arg.slice(name.length + 3)) : fallback
}
const CHUNKS = opt('chunks', 1000)
const STREAMS = opt('streams', 4)
const TTFB_RUNS = opt('ttfb', 300)

/** Seeded gaps of 2 to 20 ms (xorshift). */
function gaps(seed, count) {
  let x = seed
  return Array.from({ length: count }, () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return 2 + ((x >>> 0) % 19)
  })
}

const event = (i) => `data: ${JSON.stringify({ i, text: 'token '.repeat(1 + (i % 5)) })}\n\n`

async function startServer() {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1')
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    if (url.pathname === '/ttfb') {
      res.write(event(0))
      await sleep(50)
      return void res.end(event(1))
    }
    const n = Number(url.searchParams.get('n'))
    const waits = gaps(Number(url.searchParams.get('seed')), n)
    for (let i = 0; i < n; i++) {
      if (i > 0) await sleep(waits[i])
      await new Promise((resolve) => res.write(event(i), resolve))
    }
    res.end()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, origin: `http://127.0.0.1:${server.address().port}` }
}

/** Reads a body through fetch; returns [end byte offset, ms after the response] per chunk. */
async function readStream(url, dispatcher) {
  const res = await fetch(url, { dispatcher })
  const start = performance.now()
  const seen = []
  let bytes = 0
  for await (const chunk of res.body) {
    bytes += chunk.length
    seen.push([bytes, performance.now() - start])
  }
  return seen
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
const fmt = (ms) => `${ms.toFixed(2)} ms`

async function timingError(origin, dir) {
  const errors = []
  let merged = 0
  const perStream = Math.ceil(CHUNKS / STREAMS)
  for (let s = 0; s < STREAMS; s++) {
    const url = `${origin}/sse?n=${perStream}&seed=${0x2545f491 + s}`
    const file = join(dir, `stream-${s}.dvd.json`)
    const rec = await DVDLoader.open(file, { recordMode: 'once' })
    await readStream(url, rec.dispatcher)
    await rec.close()
    const [[, response]] = JSON.parse(readFileSync(file, 'utf8'))
    const recorded = new Map()
    let end = 0
    let at = 0
    response.chunks.lengths.forEach((length, i) => {
      end += length
      at += response.chunks.gaps_ms[i]
      recorded.set(end, at)
    })
    const play = await DVDLoader.open(file, { recordMode: 'none', timing: 'recorded' })
    const replayed = await readStream(url, play.dispatcher)
    await play.close()
    for (const [end, at] of replayed) errors.push(at - recorded.get(end))
    merged += response.chunks.lengths.length - replayed.length
  }
  errors.sort((a, b) => a - b)
  const abs = errors.map(Math.abs).sort((a, b) => a - b)
  console.log(
    `timing: 'recorded', ${errors.length} chunks in ${STREAMS} streams (${merged} merged on the way):`,
  )
  console.log(
    `  error per chunk (replayed - recorded): median ${fmt(quantile(errors, 0.5))}, p99 ${fmt(quantile(errors, 0.99))}, ` +
      `worst late ${fmt(errors.at(-1))}, worst early ${fmt(errors[0])}; |error| median ${fmt(quantile(abs, 0.5))}`,
  )
}

async function firstByte(url, dispatcher) {
  const started = performance.now()
  const res = await fetch(url, { dispatcher })
  const reader = res.body.getReader()
  await reader.read()
  const ms = performance.now() - started
  await reader.cancel()
  return ms
}

async function timeToFirstByte(origin, dir) {
  const agent = new Agent()
  const dvd = await DVDLoader.open(join(dir, 'ttfb.dvd.lz4'), { recordMode: 'all', upstream: agent })
  const live = []
  const recording = []
  const url = `${origin}/ttfb`
  for (let i = 0; i < 20; i++) {
    await firstByte(url, agent)
    await firstByte(url, dvd.dispatcher)
  }
  for (let i = 0; i < TTFB_RUNS; i++) {
    live.push(await firstByte(url, agent))
    recording.push(await firstByte(url, dvd.dispatcher))
  }
  await dvd.close({ save: false })
  await agent.close()
  for (const list of [live, recording]) list.sort((a, b) => a - b)
  console.log(`time to first byte over ${TTFB_RUNS} requests each (after 20 warm-up pairs):`)
  for (const [name, list] of [
    ['live     ', live],
    ['recording', recording],
  ]) {
    console.log(`  ${name}: median ${fmt(quantile(list, 0.5))}, p90 ${fmt(quantile(list, 0.9))}`)
  }
}

const dir = mkdtempSync(join(tmpdir(), 'dvd-rw-stream-timing-'))
const { server, origin } = await startServer()
try {
  await timingError(origin, dir)
  await timeToFirstByte(origin, dir)
} finally {
  server.closeAllConnections()
  server.close()
  rmSync(dir, { recursive: true, force: true })
}
