// One measurement, in a fresh process: open one tool's fixture, replay all N requests through
// `fetch` in a seeded shuffled order, verify every body, print one JSON line.
//
//   node benchmark/compare/replay-worker.mjs '{"tool":"dvd-bin","path":"…","n":1000,"kind":"random","seed":1}'
//
// load = from the start of opening the fixture until the first replayed response body has been
// received (some tools load lazily on the first request, so "open" alone would flatter them), with
// fetch and the tool already warm: one fetch through a throwaway MockAgent, then a one-recording
// file of the same tool opened and replayed (firstUseMs: that first open, library cold);
// per request = the remaining N - 1 requests, one at a time, each body read and compared. A load
// under a second is the median of three opens (the first two closed again before the measured run).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fixedBodyAgent } from './floor.mjs'
import { BODY_BYTES, body, contentType, fetchInit, HOSTS, request, shuffled } from './workload.mjs'

const { tool, path, warmPath, n, kind, seed } = JSON.parse(process.argv[2])

/** Load is the median of this many opens (see LOAD_REPEAT_MS). */
const LOAD_SAMPLES = 3
/** Only a first load shorter than this is repeated: the slow loaders are not noise-bound. */
const LOAD_REPEAT_MS = 1000

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

/**
 * Opens `path` with the tool. Returns `{ t0, fetchOne(request) → Promise<Response>, close() }` once
 * the tool is set up (possibly lazily).
 */
async function setup(path) {
  switch (tool) {
    case 'dvd-json':
    case 'dvd-bin':
    case 'dvd-bin-ts': {
      const { DVDLoader } = await import('../../dist/lib/index.js')
      const t0 = performance.now()
      const dvd = await DVDLoader.open(path, { recordMode: 'none', onWarning() {} })
      const dispatcher = dvd.dispatcher
      return { t0, fetchOne: (r) => fetch(r.url, { ...fetchInit(r), dispatcher }), close: () => dvd.close() }
    }
    case 'undici-snapshot': {
      const { SnapshotAgent } = await import('undici')
      const { SNAPSHOT_MATCH_HEADERS } = await import('./fixtures.mjs')
      const t0 = performance.now()
      // The documented playback usage: construct, then fetch (the agent loads the file itself).
      const dispatcher = new SnapshotAgent({
        mode: 'playback',
        snapshotPath: path,
        matchHeaders: SNAPSHOT_MATCH_HEADERS,
      })
      return {
        t0,
        fetchOne: (r) => fetch(r.url, { ...fetchInit(r), dispatcher }),
        close: () => dispatcher.close(),
      }
    }
    case 'nock': {
      const { default: nock } = await import('nock')
      const t0 = performance.now()
      nock.back.fixtures = path.dir
      nock.back.setMode('lockdown')
      const { nockDone } = await nock.back(path.file)
      return {
        t0,
        fetchOne: (r) => fetch(r.url, fetchInit(r)),
        close() {
          nockDone()
          nock.cleanAll()
        },
      }
    }
    case 'polly': {
      const { Polly } = await import('@pollyjs/core')
      const { default: FetchAdapter } = await import('@pollyjs/adapter-fetch')
      const { default: FSPersister } = await import('@pollyjs/persister-fs')
      const { POLLY_RECORDING } = await import('./fixtures.mjs')
      const t0 = performance.now()
      const polly = new Polly(POLLY_RECORDING, {
        adapters: [FetchAdapter],
        adapterOptions: { fetch: { context: globalThis } },
        persister: FSPersister,
        persisterOptions: { fs: { recordingsDir: path } },
        mode: 'replay',
        recordIfMissing: false,
        logLevel: 'silent',
        // Every request of the workload is unique; order matching is off (it scans every earlier
        // request), headers are not matched (as dvd-rw's default).
        matchRequestsBy: { headers: false, order: false },
      })
      return { t0, fetchOne: (r) => fetch(r.url, fetchInit(r)), close: () => polly.stop() }
    }
    case 'mockagent': {
      // Floor: undici's MockAgent answering one fixed 2 KiB body (the cost of fetch itself), with
      // the headers every tool's recordings carry.
      const fixed = Buffer.from(body(0, kind))
      const headers = { 'content-type': contentType(kind), 'content-length': String(BODY_BYTES) }
      const t0 = performance.now()
      const dispatcher = fixedBodyAgent(HOSTS, fixed, headers)
      return { t0, fetchOne: (r) => fetch(r.url, { ...fetchInit(r), dispatcher }), fixed, close() {} }
    }
    case 'live': {
      // Floor: a real HTTP server on 127.0.0.1 in another process, the host as a path prefix.
      const server = spawn(
        process.execPath,
        [join(fileURLToPath(new URL('.', import.meta.url)), 'live-server.mjs'), kind],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      )
      const [line] = await once(server.stdout, 'data')
      const port = Number(String(line).trim())
      process.on('exit', () => server.kill())
      const t0 = performance.now()
      return {
        t0,
        fetchOne: (r) => fetch(`http://127.0.0.1:${port}/${r.host}${r.path}`, fetchInit(r)),
        close() {},
      }
    }
    default:
      throw new Error(`unknown tool ${tool}`)
  }
}

/**
 * The first `fetch` of a process compiles and initializes much of fetch itself (several ms on this
 * machine): send one through a throwaway MockAgent first, so that "load" is the tool's own time.
 */
async function warmFetch() {
  const agent = fixedBodyAgent(['warm.invalid'], 'warm')
  // One request of each shape the workload sends (GET; POST with a body), with headers.
  for (const i of [0, 3]) {
    const r = request(i)
    const res = await fetch(`https://warm.invalid${r.path}`, { ...fetchInit(r), dispatcher: agent })
    await res.arrayBuffer()
  }
  await agent.close()
}

const result = { tool, n, kind }
try {
  const order = shuffled(n, seed)
  await warmFetch()
  if (warmPath) {
    // The library warm, as in a test suite that opens one DVD per test: open a one-recording file of
    // the same tool and replay it first, so "load" is the cost of this DVD, not of first use.
    const w = await setup(warmPath)
    await (await w.fetchOne(request(0))).arrayBuffer()
    result.firstUseMs = performance.now() - w.t0
    await w.close()
  }
  let wrong = 0
  let firstWrong = null
  const check = (i, bytes, status, fixed) => {
    // Every tool pays the same verification: the expected body is generated even for the floors
    // that answer one fixed body, so the harness's own work cancels out of the ratios.
    const expected = body(i, kind)
    const ok = status === 200 && Buffer.compare(new Uint8Array(bytes), fixed ?? expected) === 0
    if (!ok) {
      wrong++
      if (firstWrong === null) firstWrong = { i, status, bytes: bytes.byteLength }
    }
  }
  /** Opens the fixture and replays the first request: `{ s, loadMs }`. */
  const open = async () => {
    const s = await setup(path)
    const res = await s.fetchOne(request(order[0]))
    check(order[0], await res.arrayBuffer(), res.status, s.fixed)
    return { s, loadMs: performance.now() - s.t0 }
  }
  // One open of a few milliseconds is easily doubled by the machine: when the first is under
  // LOAD_REPEAT_MS, it and one more are closed after timing (and garbage collected, so peak RSS
  // stays the measured run's), and load is the median of those two and the measured run's own.
  const loads = []
  let opened = await open()
  while (opened.loadMs < LOAD_REPEAT_MS && loads.length < LOAD_SAMPLES - 1) {
    loads.push(opened.loadMs)
    await opened.s.close()
    globalThis.gc?.()
    opened = await open()
  }
  loads.push(opened.loadMs)
  const { s } = opened
  const one = async (i) => {
    const res = await s.fetchOne(request(i))
    check(i, await res.arrayBuffer(), res.status, s.fixed)
  }
  const tFirst = performance.now()
  for (let k = 1; k < n; k++) await one(order[k])
  const tEnd = performance.now()
  Object.assign(result, {
    ok: wrong === 0,
    loadMs: median(loads),
    loadSamplesMs: loads,
    perRequestUs: ((tEnd - tFirst) * 1000) / Math.max(1, n - 1),
    totalMs: tEnd - s.t0,
    wrong,
    firstWrong,
    bodyBytes: BODY_BYTES,
  })
} catch (error) {
  result.ok = false
  result.error = String(error?.cause?.message ?? error?.message ?? error)
    .split('\n')[0]
    .slice(0, 300)
}
result.maxRssMiB = process.resourceUsage().maxRSS / 1024
process.stdout.write(`\n${JSON.stringify(result)}\n`)
process.exit(0)
