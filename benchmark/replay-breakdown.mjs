// Where the per-request cost of replaying a binary DVD through `fetch` goes, against undici's
// MockAgent answering one fixed 2 KiB body (the floor the per-request bar is about):
//
//   node --expose-gc benchmark/replay-breakdown.mjs [--n=20000] [--processes=5]
//
// A diagnostic, not a comparison with peers: each variant below swaps the DVD's decision step
// (`DVD.decide`, which every request of this workload goes through) for a cheaper stand-in,
// so the steps between them show what the interceptor, the native key + lookup + record read, and
// the JavaScript side of the record each add. Every variant runs in fresh processes (so no
// variant's compiled code is shared with another's); in each process the variant and the floor run
// in alternating blocks of 500 requests (the machine's speed drifts within seconds), and a process
// reports the median of its block ratios. The figure per variant is the median over processes. The
// default N is larger than the 11,500 replays of a process, so no request is replayed twice (a
// repeat is a different lookup: the last recording of its key, played already).
//
// Workload: compare/workload.mjs (3 hosts × 2 methods × 50 paths, unique query, headers, POST
// bodies, 2 KiB random bodies), replayed in a seeded shuffled order, every body checked.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { warmPageCache } from './compare/page_cache.mjs'

const VARIANTS = [
  ['no lookup', 'the DVD answers every request with one fixed response: the interceptor and play only'],
  ['native read', '+ the native key, lookup and record read of each request (find), result unused'],
  [
    'full',
    'the DVD as shipped: + building the response from the record, play counts, each request its own body',
  ],
]
const BLOCK = 500
const BLOCKS = 20

const opt = (name, fallback) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`))
  return arg ? Number(arg.slice(name.length + 3)) : fallback
}

async function child({ file, n, variant }) {
  const { fixedBodyAgent } = await import('./compare/floor.mjs')
  const { DVDLoader } = await import('../dist/lib/index.js')
  const { BODY_BYTES, body, contentType, fetchInit, HOSTS, request, shuffled } = await import(
    './compare/workload.mjs'
  )
  const loaded = await DVDLoader.open(file, {
    recordMode: 'none',
    allowPlaybackRepeats: true,
    onWarning() {},
  })
  const dvd = loaded.dvd
  const fixed = Buffer.from(body(0, 'random'))
  const mock = fixedBodyAgent(HOSTS, fixed, {
    'content-type': contentType('random'),
    'content-length': String(BODY_BYTES),
  })
  const first = request(0)
  const fixedDecision = dvd.decide({ method: first.method, url: first.url, headers: first.headers })
  const { reader } = dvd.base
  const scratch = Buffer.allocUnsafeSlow(1 << 16)
  const result = new Uint32Array(512)
  // Replay answers through DVD.decide: each variant swaps it for a stand-in.
  if (variant === 'no lookup') dvd.decide = () => fixedDecision
  if (variant === 'native read') {
    dvd.decide = (_request, parts) => {
      reader.find(null, parts.method, parts.origin, parts.path, 0, null, scratch, 0, result)
      return fixedDecision
    }
  }
  const real = variant === 'full'
  const order = shuffled(n, 7)
  let at = 0
  async function block(dispatcher, floor) {
    const t0 = performance.now()
    for (let k = 0; k < BLOCK; k++) {
      const i = order[at++ % n]
      const r = request(i)
      const res = await fetch(r.url, { ...fetchInit(r), dispatcher })
      const got = new Uint8Array(await res.arrayBuffer())
      // Every block generates the expected body, so both sides pay for the check alike.
      const expected = body(i, 'random')
      if (Buffer.compare(got, floor || !real ? fixed : expected) !== 0) throw new Error(`wrong body for ${i}`)
    }
    return (performance.now() - t0) / BLOCK
  }
  for (let w = 0; w < 3; w++) {
    await block(loaded.dispatcher, false)
    await block(mock, true)
  }
  const ratios = []
  for (let b = 0; b < BLOCKS; b++) {
    const replay = await block(loaded.dispatcher, false)
    ratios.push(replay / (await block(mock, true)))
  }
  ratios.sort((a, b) => a - b)
  process.stdout.write(JSON.stringify({ ratio: ratios[ratios.length >> 1] }))
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

async function main() {
  const n = opt('n', 20_000)
  const processes = opt('processes', 5)
  const { buildDvdBinary } = await import('./compare/fixtures.mjs')
  const dir = mkdtempSync(join(tmpdir(), 'dvd-rw-breakdown-'))
  try {
    const file = buildDvdBinary(dir, n, 'random')
    const runs = new Map(VARIANTS.map(([name]) => [name, []]))
    // Passes over the variants, so a slow minute of the machine hits them alike.
    for (let p = 0; p < processes; p++) {
      for (const [variant] of VARIANTS) {
        warmPageCache([file])
        const out = spawnSync(
          process.execPath,
          ['--expose-gc', fileURLToPath(import.meta.url), '--child', JSON.stringify({ file, n, variant })],
          { encoding: 'utf8' },
        )
        if (out.status !== 0) throw new Error(`${variant}: ${out.stderr}`)
        runs.get(variant).push(JSON.parse(out.stdout).ratio)
      }
    }
    console.log(
      `N = ${n.toLocaleString('en')}, ${processes} processes per variant, ${BLOCKS} block pairs each`,
    )
    console.log('')
    console.log('| variant | what it does | × MockAgent (median) | step | per process |')
    console.log('|---|---|--:|--:|---|')
    let previous
    for (const [variant, what] of VARIANTS) {
      const ratio = median(runs.get(variant))
      const step =
        previous === undefined ? '' : `${ratio - previous >= 0 ? '+' : ''}${(ratio - previous).toFixed(3)}`
      const all = runs
        .get(variant)
        .map((x) => x.toFixed(3))
        .join(', ')
      console.log(`| ${variant} | ${what} | ${ratio.toFixed(3)}× | ${step} | ${all} |`)
      previous = ratio
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const childAt = process.argv.indexOf('--child')
if (childAt !== -1) await child(JSON.parse(process.argv[childAt + 1]))
else await main()
