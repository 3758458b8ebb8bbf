// Binary DVD figures at scale, measured in one run so the ratios compare like with like:
//   - open time at N = 1,000 and N = 1,000,000 (median of 21 opens each);
//   - lookup + decode of one recording, no fetch, median µs at each N: through DVD.decide given the
//     request's key (computed in TypeScript) and given its dispatch parts (keyed by the native
//     reader, as replay through fetch does);
//   - replay through fetch at each N against undici's MockAgent answering a fixed 2 KiB body, each
//     run in a fresh process, in pairs run back to back (median of the pair-by-pair ratios);
//   - resident memory growth after opening the largest DVD;
//   - file size against the JSON DVD, for random and for JSON-text bodies (N = 10,000, the bodies of
//     the comparison's workload: distinct per request);
//   - json-to-bin on a JSON DVD larger than V8's maximum string length (with --json-gib).
//
//   npm run build && node --expose-gc benchmark/binary-scaling.mjs [--quick] [--json-gib]
//
// Workload: 3 hosts × 2 methods × 50 paths, a unique ?id= per request, 2 KiB response bodies.
// Not part of npm test; absolute times on a shared machine are indicative, the ratios are the point.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeBinary } from '../dist/lib/formats/binary.js'
import { serializeJson } from '../dist/lib/formats/json.js'
import { DEFAULT_MATCH_ON, DVDLoader } from '../dist/lib/index.js'
import { fixedBodyAgent } from './compare/floor.mjs'
import { warmPageCache } from './compare/page_cache.mjs'
import { contentType, body as workloadBody } from './compare/workload.mjs'

const quick = process.argv.includes('--quick')
const SIZES = quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000]
const hosts = ['api.example.com', 'cdn.example.com', 'auth.example.com']
const methods = ['GET', 'POST']
const randomBody = randomBytes(2048)

function request(i) {
  const host = hosts[i % 3]
  const method = methods[Math.floor(i / 3) % 2]
  const path = `/v1/items/${Math.floor(i / 6) % 50}`
  return { method, url: `https://${host}${path}?id=${i}`, headers: [['accept', 'application/json']] }
}

function recording(i, body) {
  // Vary the first bytes so bodies are not all identical.
  const b = Buffer.from(body)
  b.writeUInt32LE(i, 0)
  return {
    request: request(i),
    outcome: { status: 200, headers: [['content-type', 'application/json']], body: b },
  }
}

/** Recordings 0..n-1, each built by `make(i)`. */
function* recordings(n, make) {
  for (let i = 0; i < n; i++) yield make(i)
}

/** Recordings as the sources `writeBinary` takes. */
function* sources(items) {
  for (const recording of items) yield { kind: 'recording', recording }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const mb = (bytes) => (bytes / 1e6).toFixed(1)

/** Requests replayed before timing (both sides compiled and warm), and timed, per run. */
const WARM_REQUESTS = 5_000
const TIMED_REQUESTS = 20_000

/**
 * One side of the fetch comparison, in a process of its own (so neither side pays for the other's
 * garbage or compiled code): µs per request of TIMED_REQUESTS requests of ids 0..n-1 through
 * `fetch`, answered by the DVD or (`floor`) by MockAgent with one fixed 2 KiB body, each body read.
 */
async function fetchSide(file, n, floor) {
  const dispatcher = floor
    ? fixedBodyAgent(hosts, randomBody, { 'content-type': 'application/json' })
    : (await DVDLoader.open(file, { recordMode: 'none', allowPlaybackRepeats: true })).dispatcher
  async function run(count, x) {
    const t0 = performance.now()
    for (let i = 0; i < count; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff
      const req = request(x % n)
      const res = await fetch(req.url, { method: req.method, headers: req.headers, dispatcher })
      const body = await res.arrayBuffer()
      if (body.byteLength !== 2048) throw new Error(`wrong body length ${body.byteLength}`)
    }
    return ((performance.now() - t0) * 1000) / count
  }
  await run(WARM_REQUESTS, 1)
  return run(TIMED_REQUESTS, 99)
}

const fetchChild = process.argv.indexOf('--fetch-child')
if (fetchChild !== -1) {
  const { file, n, floor } = JSON.parse(process.argv[fetchChild + 1])
  process.stdout.write(JSON.stringify(await fetchSide(file, n, floor)))
  process.exit(0)
}

const dir = mkdtempSync(join(tmpdir(), 'dvd-rw-binary-bench-'))
const files = new Map()
try {
  for (const n of SIZES) {
    const file = join(dir, `n${n}.dvd.lz4`)
    const t0 = performance.now()
    writeBinary(file, sources(recordings(n, (i) => recording(i, randomBody))), DEFAULT_MATCH_ON)
    files.set(n, file)
    console.log(
      `built N=${n.toLocaleString('en')}: ${mb(statSync(file).size)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    )
  }

  // Open time.
  const open = new Map()
  for (const n of SIZES) {
    const times = []
    for (let i = 0; i < 21; i++) {
      const t0 = performance.now()
      const dvd = await DVDLoader.open(files.get(n), { recordMode: 'none' })
      times.push(performance.now() - t0)
      dvd.dvd.base.close()
    }
    open.set(n, median(times))
  }

  // Lookup + decode through DVD.decide, by key and by dispatch parts (repeats allowed, so the
  // repeated requests of the rounds are found again).
  const lookup = new Map()
  const exact = new Map()
  for (const n of SIZES) {
    const dvd = await DVDLoader.open(files.get(n), { recordMode: 'none', allowPlaybackRepeats: true })
    let x = 7
    const ids = Array.from({ length: 20_000 }, () => {
      x = (x * 1103515245 + 12345) & 0x7fffffff
      return x % n
    })
    const requests = ids.map(request)
    const parts = requests.map((req) => {
      const url = new URL(req.url)
      return [req.method, url.origin, url.pathname + url.search]
    })
    const timeGeneral = () => {
      const t0 = performance.now()
      for (const req of requests) {
        const d = dvd.dvd.decide(req)
        if (d.kind !== 'replay') throw new Error('lookup failed')
      }
      return ((performance.now() - t0) * 1000) / requests.length
    }
    // Given the dispatch parts, as the interceptor gives them.
    const timeFast = () => {
      const t0 = performance.now()
      for (let i = 0; i < requests.length; i++) {
        const [method, origin, path] = parts[i]
        const d = dvd.dvd.decide(requests[i], { method, origin, path })
        if (d.kind !== 'replay') throw new Error('lookup by parts failed')
      }
      return ((performance.now() - t0) * 1000) / requests.length
    }
    const general = []
    const fast = []
    // Each round runs the two in turn, first one then the other, so neither always follows.
    for (let r = 0; r < 6; r++) {
      if (r % 2 === 0) general.push(timeGeneral())
      fast.push(timeFast())
      if (r % 2 === 1) general.push(timeGeneral())
    }
    lookup.set(n, median(general))
    exact.set(n, median(fast))
  }

  // Replay through fetch, against MockAgent's floor: every run in a fresh process (see fetchSide),
  // the two sides in pairs run back to back, which goes first alternating (the machine's speed
  // drifts within seconds); the figure is the median of the pair-by-pair ratios.
  const PASSES = quick ? 3 : 11
  const viaFetch = new Map()
  for (const n of SIZES) {
    const side = (floor) => {
      warmPageCache([files.get(n)])
      const child = spawnSync(
        process.execPath,
        [
          '--expose-gc',
          fileURLToPath(import.meta.url),
          '--fetch-child',
          JSON.stringify({ file: files.get(n), n, floor }),
        ],
        { encoding: 'utf8', maxBuffer: 1 << 20 },
      )
      if (child.status !== 0) throw new Error(child.stderr)
      return Number(child.stdout)
    }
    const floors = []
    const replays = []
    const ratios = []
    for (let p = 0; p < PASSES; p++) {
      let floor
      let replay
      if (p % 2 === 0) {
        floor = side(true)
        replay = side(false)
      } else {
        replay = side(false)
        floor = side(true)
      }
      floors.push(floor)
      replays.push(replay)
      ratios.push(replay / floor)
    }
    viaFetch.set(n, { floor: median(floors), replay: median(replays), ratio: median(ratios), ratios })
  }

  // Resident memory after opening the largest DVD, in a fresh process so nothing else is counted.
  const largest = SIZES.at(-1)
  const index = new URL('../dist/lib/index.js', import.meta.url).href
  const rssScript = `
    import { DVDLoader } from ${JSON.stringify(index)}
    globalThis.gc()
    const before = process.memoryUsage().rss
    const dvd = await DVDLoader.open(${JSON.stringify(files.get(largest))}, { recordMode: 'none' })
    const d = dvd.dvd.decide({ method: 'GET', url: 'https://api.example.com/v1/items/0?id=0', headers: [['accept', 'application/json']] })
    if (d.kind !== 'replay') throw new Error('lookup failed')
    globalThis.gc()
    console.log(process.memoryUsage().rss - before)
  `
  const rssChild = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', rssScript], {
    encoding: 'utf8',
  })
  if (rssChild.status !== 0) throw new Error(rssChild.stderr)
  const rssGrowth = Number(rssChild.stdout.trim())

  // Sizes against JSON.
  const sizes = []
  // Bodies distinct per request, as the comparison's workload makes them (compare/workload.mjs):
  // incompressible bytes, or valid compact JSON text.
  for (const [kind, bodyKind] of [
    ['random bytes', 'random'],
    ['JSON text', 'json'],
  ]) {
    const n = 10_000
    const bin = join(dir, `size-${kind.replace(' ', '-')}.dvd.lz4`)
    const json = join(dir, `size-${kind.replace(' ', '-')}.dvd.json`)
    const sized = (i) => ({
      request: request(i),
      outcome: {
        status: 200,
        headers: [['content-type', contentType(bodyKind)]],
        body: Buffer.from(workloadBody(i, bodyKind)),
      },
    })
    writeBinary(bin, sources(recordings(n, sized)), DEFAULT_MATCH_ON)
    const fd = openSync(json, 'w')
    for (const chunk of serializeJson(recordings(n, sized))) writeSync(fd, chunk)
    closeSync(fd)
    sizes.push({ kind, ratio: statSync(bin).size / statSync(json).size })
  }

  const s = SIZES[0]
  console.log('')
  console.log('| figure | value | bar |')
  console.log('|---|---|---|')
  for (const n of SIZES) console.log(`| open, N=${n.toLocaleString('en')} | ${open.get(n).toFixed(2)} ms | |`)
  console.log(
    `| open ratio ${largest.toLocaleString('en')} / ${s.toLocaleString('en')} | ${(open.get(largest) / open.get(s)).toFixed(2)} | < 3 |`,
  )
  for (const [name, times] of [
    ['lookup + decode (DVD.decide)', lookup],
    ['lookup + decode (by dispatch parts)', exact],
  ]) {
    for (const n of SIZES)
      console.log(`| ${name}, N=${n.toLocaleString('en')} | ${times.get(n).toFixed(2)} µs | |`)
    console.log(
      `| ${name}, ratio ${largest.toLocaleString('en')} / ${s.toLocaleString('en')} | ${(times.get(largest) / times.get(s)).toFixed(2)} | < 1.5 |`,
    )
  }
  for (const n of SIZES) {
    const { floor, replay, ratio, ratios } = viaFetch.get(n)
    console.log(
      `| fetch + DVD against fetch + MockAgent, N=${n.toLocaleString('en')} | ${replay.toFixed(1)} vs ${floor.toFixed(1)} µs/request: ${ratio.toFixed(2)}× (rounds ${ratios.map((x) => x.toFixed(2)).join(', ')}) | < 1.1× |`,
    )
  }
  console.log(`| RSS growth after open, N=${largest.toLocaleString('en')} | ${mb(rssGrowth)} MB | < 30 MB |`)
  for (const { kind, ratio } of sizes)
    console.log(
      `| size vs JSON, ${kind} | ${ratio.toFixed(2)}× | ${kind === 'JSON text' ? '≤ 0.3×' : '≤ 0.8×'} |`,
    )

  if (process.argv.includes('--json-gib')) {
    // A JSON DVD over 1 GiB (beyond V8's maximum string length), converted in a child process so
    // its peak RSS is its own.
    const n = 420_000
    const json = join(dir, 'big.dvd.json')
    const fd = openSync(json, 'w')
    let pending = ''
    for (const chunk of serializeJson(recordings(n, (i) => recording(i, randomBody)))) {
      pending += chunk
      if (pending.length > 1 << 22) {
        writeSync(fd, pending)
        pending = ''
      }
    }
    writeSync(fd, pending)
    closeSync(fd)
    const bytes = statSync(json).size
    const cli = new URL('../dist/lib/cli.js', import.meta.url).href
    const script = `
      import { run } from ${JSON.stringify(cli)}
      const t0 = performance.now()
      const code = await run(['json-to-bin', ${JSON.stringify(json)}, ${JSON.stringify(join(dir, 'big.dvd.lz4'))}], { stdout() {}, stderr: (s) => process.stderr.write(s) })
      console.log(JSON.stringify({ code, seconds: (performance.now() - t0) / 1000, maxRssKb: process.resourceUsage().maxRSS }))
    `
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    const result = JSON.parse(child.stdout.trim().split('\n').at(-1))
    if (result.code !== 0) throw new Error(`json-to-bin failed: ${child.stderr}`)
    const seconds = result.seconds
    console.log(
      `| json-to-bin peak RSS, ${mb(bytes)} MB JSON | ${(result.maxRssKb / 1024).toFixed(0)} MiB | < 500 MB |`,
    )
    console.log(
      `| json-to-bin, ${mb(bytes)} MB JSON | ${(bytes / 1e6 / seconds).toFixed(0)} MB/s | ≥ 100 MB/s |`,
    )
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
