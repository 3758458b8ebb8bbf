// One measurement, in a fresh process: open one tool's fixture, replay all N requests through
// `fetch` in a seeded shuffled order, verify every body, print one JSON line.
//
//   node benchmark/compare/replay-worker.mjs '{"tool":"dvd-bin","path":"…","n":1000,"kind":"random","seed":1}'
//
// load = from the start of opening the fixture until the first replayed response body has been
// received (some tools load lazily on the first request, so "open" alone would flatter them);
// per request = the remaining N - 1 requests, one at a time, each body read and compared.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BODY_BYTES, body, contentType, HOSTS, request, shuffled, verify } from './workload.mjs'

const { tool, path, n, kind, seed } = JSON.parse(process.argv[2])

function init(req) {
  const headers = Object.fromEntries(req.headers)
  return req.body === null ? { method: req.method, headers } : { method: req.method, headers, body: req.body }
}

/** Returns `{ fetchOne(i) → Promise<Response> }` once the tool is set up (possibly lazily). */
async function setup() {
  switch (tool) {
    case 'dvd-json':
    case 'dvd-bin':
    case 'dvd-bin-ts': {
      const { DVDLoader } = await import('../../dist/lib/index.js')
      const t0 = performance.now()
      const dvd = await DVDLoader.open(path, { recordMode: 'none', onWarning() {} })
      const dispatcher = dvd.dispatcher
      return { t0, fetchOne: (r) => fetch(r.url, { ...init(r), dispatcher }) }
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
      return { t0, fetchOne: (r) => fetch(r.url, { ...init(r), dispatcher }) }
    }
    case 'nock': {
      const { default: nock } = await import('nock')
      const t0 = performance.now()
      nock.back.fixtures = path.dir
      nock.back.setMode('lockdown')
      await nock.back(path.file)
      return { t0, fetchOne: (r) => fetch(r.url, init(r)) }
    }
    case 'polly': {
      const { Polly } = await import('@pollyjs/core')
      const { default: FetchAdapter } = await import('@pollyjs/adapter-fetch')
      const { default: FSPersister } = await import('@pollyjs/persister-fs')
      const { POLLY_RECORDING } = await import('./fixtures.mjs')
      const t0 = performance.now()
      new Polly(POLLY_RECORDING, {
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
      return { t0, fetchOne: (r) => fetch(r.url, init(r)) }
    }
    case 'mockagent': {
      // Floor: undici's MockAgent answering one fixed 2 KiB body (the cost of fetch itself).
      const { MockAgent } = await import('undici')
      const fixed = Buffer.from(body(0, kind))
      const t0 = performance.now()
      const dispatcher = new MockAgent()
      dispatcher.disableNetConnect()
      for (const host of HOSTS) {
        dispatcher
          .get(`https://${host}`)
          .intercept({ path: () => true, method: () => true })
          .reply(200, fixed, { headers: { 'content-type': contentType(kind) } })
          .persist()
      }
      return { t0, fetchOne: (r) => fetch(r.url, { ...init(r), dispatcher }), fixed }
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
        fetchOne: (r) => fetch(`http://127.0.0.1:${port}/${r.host}${r.path}`, init(r)),
      }
    }
    default:
      throw new Error(`unknown tool ${tool}`)
  }
}

const result = { tool, n, kind }
try {
  const order = shuffled(n, seed)
  const s = await setup()
  let wrong = 0
  let firstWrong = null
  const check = (i, bytes, status) => {
    const ok =
      status === 200 &&
      (s.fixed ? Buffer.compare(new Uint8Array(bytes), s.fixed) === 0 : verify(i, kind, bytes))
    if (!ok) {
      wrong++
      if (firstWrong === null) firstWrong = { i, status, bytes: bytes.byteLength }
    }
  }
  const one = async (i) => {
    const res = await s.fetchOne(request(i))
    check(i, await res.arrayBuffer(), res.status)
  }
  await one(order[0])
  const tFirst = performance.now()
  for (let k = 1; k < n; k++) await one(order[k])
  const tEnd = performance.now()
  Object.assign(result, {
    ok: wrong === 0,
    loadMs: tFirst - s.t0,
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
