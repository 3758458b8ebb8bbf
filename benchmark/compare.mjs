// dvd-rw against the tools users would pick instead, on one workload, each tool in its own on-disk
// format, each measurement in a fresh child process. See benchmark/README.md.
//
//   npm run bench                      # full run: N = 1k, 10k, 100k (+ 1M where it can answer), cap 180 s
//   npm run bench -- --quick           # N = 1k, 10k, cap 30 s, random bodies only (< 2 minutes)
//   options: --json-text (JSON-text bodies for the main sweep), --sizes=1000,10000, --cap=SECONDS,
//            --tools=dvd-bin,nock,…, --out=DIR (default: benchmark/ for a full run, a temp dir for --quick)
import { spawn, spawnSync } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderChart } from './compare/chart.mjs'
import { warmPageCache } from './compare/page_cache.mjs'

const here = dirname(fileURLToPath(import.meta.url))
if (!existsSync(join(here, '../dist/lib/index.js'))) {
  console.error('dist/ is missing: run `npm install` (or `npm run build`) at the repository root first.')
  process.exit(1)
}
const fx = await import('./compare/fixtures.mjs')
const argv = process.argv.slice(2)
const FLAGS = ['--quick', '--json-text', '--no-other-kind', '--no-recording']
const VALUED = ['sizes', 'cap', 'out', 'rounds', 'tools']
// An option the harness does not read (`--rounds 7` for `--rounds=7`) would otherwise leave a whole
// run on its defaults while its report names the option.
for (const arg of argv) {
  if (!FLAGS.includes(arg) && !VALUED.some((name) => arg.startsWith(`--${name}=`))) {
    console.error(
      `unknown option ${arg}: expected ${FLAGS.join(', ')} or ${VALUED.map((name) => `--${name}=…`).join(', ')}`,
    )
    process.exit(2)
  }
}
const opt = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const quick = argv.includes('--quick')
const mainKind = argv.includes('--json-text') ? 'json' : 'random'
const otherKind = mainKind === 'json' ? 'random' : 'json'
const SIZES = (opt('sizes') ?? (quick ? '1000,10000' : '1000,10000,100000,1000000')).split(',').map(Number)
const CAP_S = Number(opt('cap') ?? (quick ? 30 : 180))
// One million sequential fetches take minutes even for the floor: a longer cap at that size.
const capFor = (n) => (n >= 1_000_000 ? Math.max(CAP_S, 600) : CAP_S)
const SEED = 20240601
// Peers answer at 1,000,000 only when linear extrapolation of their previous size fits the cap (their
// per-request cost can only grow with N) and their whole-file JSON fits in a V8 string.
const V8_MAX_STRING = 0x1fffffe8
const outDir = opt('out') ?? (quick ? mkdtempSync(join(tmpdir(), 'dvd-rw-bench-quick-')) : here)
// This shared 2-core machine easily moves one run by 15%: every tool whose run takes under
// ROUND_MAX_S is run ROUNDS times, in passes over all tools (so a slow minute hits them alike), and
// reported by the median of each figure. Below N = 10,000 a run is over in a second or two and
// falls within fetch's JIT warm-up, where one pass differs from the next by up to 40%: twice as
// many passes and one more, which the whole N = 1,000 sweep affords in about a minute.
const ROUNDS = Number(opt('rounds') ?? (quick ? 1 : 5))
const roundsFor = (n) => (n < 10_000 && !quick && !opt('rounds') ? 2 * ROUNDS + 1 : ROUNDS)
const ROUND_MAX_S = 60
// dvd-rw binary and the MockAgent floor, whose ratio is the per-request bar, are run this many
// times even when a run takes minutes (N = 1,000,000): two single runs of a million requests were
// seen 14% apart (114.7 and 130.4 µs per request for the same DVD).
const PAIR = new Set(['dvd-bin', 'mockagent'])
const longPairRounds = Math.min(3, ROUNDS)

/**
 * Tools: label, fixture builder, worker, whether its file must fit in one JS string. The MockAgent
 * floor runs right after dvd-rw binary in every pass: the machine's speed drifts over minutes, and
 * the ratio of these two is the one the per-request bar is about.
 */
const TOOLS = [
  { id: 'dvd-bin', label: 'dvd-rw binary (native)', fixture: 'bin', whole: false },
  { id: 'mockagent', label: 'floor: MockAgent, fixed body', fixture: null, floor: true },
  {
    id: 'dvd-bin-ts',
    label: 'dvd-rw binary (TS reader)',
    fixture: 'bin',
    whole: false,
    env: { DVD_RW_NATIVE: '0' },
  },
  { id: 'dvd-json', label: 'dvd-rw JSON', fixture: 'json', whole: true },
  { id: 'undici-snapshot', label: 'undici SnapshotAgent', fixture: 'snap', whole: true },
  { id: 'nock', label: 'nock.back', fixture: 'nock', whole: true },
  { id: 'polly', label: 'Polly.js (fetch + fs)', fixture: 'polly', whole: true },
  { id: 'python', label: 'Python dvd-rw 0.1.6 (lookup only)', fixture: 'json', whole: false, python: true },
  { id: 'live', label: 'floor: live HTTP 127.0.0.1', fixture: null, floor: true },
]
const only = opt('tools')?.split(',')
const tools = only ? TOOLS.filter((t) => only.includes(t.id) || t.id === 'dvd-bin') : TOOLS

const BUILDERS = {
  bin: fx.buildDvdBinary,
  json: fx.buildDvdJson,
  snap: fx.buildUndiciSnapshot,
  nock: fx.buildNockBack,
  polly: fx.buildPollyHar,
}

function pythonReady() {
  const venv = spawnSync('bash', [join(here, 'python-venv.sh')], { stdio: 'inherit' })
  return venv.status === 0
}

function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : ''
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpus()[0]?.model ?? 'unknown'
  const py = spawnSync(join(here, '.venv/bin/python'), ['--version'], { encoding: 'utf8' })
  const version = (p) =>
    JSON.parse(readFileSync(join(here, 'node_modules', p, 'package.json'), 'utf8')).version
  return {
    cpu: model,
    cores: cpus().length,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    python: py.status === 0 ? py.stdout.trim() : 'not available',
    peers: `undici ${version('undici')}, nock ${version('nock')}, @pollyjs/core ${version('@pollyjs/core')}, Python dvd-rw 0.1.6`,
  }
}

function logRun(x, r, round = 1) {
  console.log(
    `  ${x.kind} N=${fmtN(x.n)} ${x.tool.label}${round > 1 ? ` (round ${round})` : ''}: ${
      r.capped
        ? `> cap (${r.cap} s)`
        : r.ok
          ? `load ${fmtMs(r.loadMs)}, ${fmtUs(r.perRequestUs)}/request, RSS ${r.maxRssMiB.toFixed(0)} MiB`
          : `INVALID: ${r.error ?? `${r.wrong} wrong bodies (first ${JSON.stringify(r.firstWrong)})`}`
    }`,
  )
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

/**
 * One result from several runs of a tool: the median of each figure. A run that served a wrong body
 * makes the whole result invalid, not an outlier.
 */
function medianRun(runs) {
  const bad = runs.find((r) => !r.ok)
  if (bad) return bad
  const figure = (name) => (runs[0][name] === undefined ? undefined : median(runs.map((r) => r[name])))
  return {
    ...runs[0],
    loadMs: figure('loadMs'),
    firstUseMs: figure('firstUseMs'),
    perRequestUs: figure('perRequestUs'),
    maxRssMiB: figure('maxRssMiB'),
    rounds: runs.length,
    perRequestSamplesUs: runs.map((r) => r.perRequestUs),
  }
}

/** Every file of a fixture: a file, a directory (Polly's recordings), or nock's `{ dir, file }`. */
function fixtureFiles(path) {
  if (path === null) return []
  if (typeof path === 'object') return [join(path.dir, path.file)]
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path).flatMap((name) => fixtureFiles(join(path, name)))
}

function runChild(tool, config) {
  warmPageCache(fixtureFiles(config.path ?? null))
  if (config.digests) warmPageCache(fixtureFiles(config.digests))
  const [cmd, args] = tool.python
    ? [join(here, '.venv/bin/python'), [join(here, 'compare/replay_worker.py'), JSON.stringify(config)]]
    : [
        process.execPath,
        [
          '--expose-gc',
          join(here, 'compare/replay-worker.mjs'),
          JSON.stringify({ tool: tool.id, ...config }),
        ],
      ]
  return new Promise((resolve) => {
    const t0 = performance.now()
    const child = spawn(cmd, args, {
      env: { ...process.env, NODE_NO_WARNINGS: '1', ...tool.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      err = (err + d).slice(-2000)
    })
    let capped = false
    const timer = setTimeout(() => {
      capped = true
      child.kill('SIGKILL')
    }, capFor(config.n) * 1000)
    child.on('close', (code) => {
      clearTimeout(timer)
      const wall = (performance.now() - t0) / 1000
      if (capped) return resolve({ ok: false, capped: true, cap: capFor(config.n), wall })
      const line = out.trim().split('\n').at(-1)
      try {
        resolve({ ...JSON.parse(line), wall })
      } catch {
        resolve({ ok: false, error: `exit ${code}: ${err.trim().split('\n').slice(-3).join(' ')}`, wall })
      }
    })
  })
}

const fmtN = (n) => n.toLocaleString('en')
const fmtBytes = (b) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`)
const fmtMs = (ms) =>
  ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`
const fmtUs = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`)
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(a / b >= 10 ? 0 : 2)}×` : '—')

function fileSize(path) {
  if (path === null) return null
  if (typeof path === 'object') return statSync(join(path.dir, path.file)).size
  if (statSync(path).isDirectory()) {
    return statSync(join(path, readdirSync(path)[0], 'recording.har')).size
  }
  return statSync(path).size
}

async function main() {
  const started = Date.now()
  const hasPython = tools.some((t) => t.python) && pythonReady()
  const info = machine()
  console.log(`machine: ${info.cpu}, ${info.cores} cores, ${info.memory}, Node ${info.node}, ${info.python}`)
  console.log(`sizes ${SIZES.map(fmtN).join(', ')}; cap ${CAP_S} s; bodies: ${mainKind}`)
  const runs = [...SIZES.map((n) => ({ kind: mainKind, n }))]
  if (!quick && !argv.includes('--no-other-kind')) runs.push({ kind: otherKind, n: 10_000 })
  const results = [] // { kind, n, tool, size, r }
  const last = new Map() // `${kind}:${tool}` → { n, r, size }

  // One-recording files of every format, opened first by each worker (library warm; see
  // compare/replay-worker.mjs), built once per body kind.
  const warmDirs = new Map()
  const warmBuilt = new Map()
  async function warmFixture(kind, fixture) {
    const key = `${kind}:${fixture}`
    if (!warmBuilt.has(key)) {
      if (!warmDirs.has(kind)) warmDirs.set(kind, mkdtempSync(join(tmpdir(), `dvd-rw-compare-warm-${kind}-`)))
      warmBuilt.set(key, await BUILDERS[fixture](warmDirs.get(kind), 1, kind))
    }
    return warmBuilt.get(key)
  }

  for (const { kind, n } of runs) {
    const dir = mkdtempSync(join(tmpdir(), `dvd-rw-compare-${kind}-${n}-`))
    const built = new Map()
    try {
      for (const tool of tools) {
        const key = `${kind}:${tool.id}`
        const prev = last.get(key)
        let skip = null
        if (tool.python && !hasPython) skip = 'not run: Python virtualenv unavailable'
        // The MockAgent floor runs at every size: the per-request bar holds at every N. The live
        // server floor is only a reference, and a million requests over a socket take ten minutes.
        else if (tool.id === 'live' && n > 100_000) skip = 'not run (measured up to 100,000)'
        else if (
          kind !== mainKind &&
          results.some((x) => x.kind === mainKind && x.n === n && x.tool.id === tool.id && x.r.capped)
        )
          skip = `> cap (not run: > ${CAP_S} s with ${mainKind} bodies at this N)`
        else if (prev?.r.capped) skip = `> cap (already > ${CAP_S} s at N = ${fmtN(prev.n)})`
        else if (prev && !prev.r.ok) skip = `not run (failed at N = ${fmtN(prev.n)})`
        else if (prev && n > prev.n && prev.r.totalMs * (n / prev.n) > capFor(n) * 1000)
          skip = `> cap (skipped: linear extrapolation from N = ${fmtN(prev.n)} is ${((prev.r.totalMs * (n / prev.n)) / 1000).toFixed(0)} s)`
        else if (prev && tool.whole && prev.size * (n / prev.n) > V8_MAX_STRING)
          skip = `cannot load: the file (~${fmtBytes(prev.size * (n / prev.n))}) is read whole into one string, beyond V8's ${fmtBytes(V8_MAX_STRING)} limit`
        if (skip) {
          console.log(`  ${kind} N=${fmtN(n)} ${tool.label}: ${skip}`)
          results.push({ kind, n, tool, size: null, r: { ok: false, skipped: skip } })
          continue
        }
        let path = null
        if (tool.fixture) {
          if (!built.has(tool.fixture)) {
            const t0 = performance.now()
            built.set(tool.fixture, await BUILDERS[tool.fixture](dir, n, kind))
            console.log(
              `  built ${tool.fixture} N=${fmtN(n)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
            )
          }
          path = built.get(tool.fixture)
        }
        const config = { path, n, kind, seed: SEED }
        if (tool.fixture) config.warmPath = await warmFixture(kind, tool.fixture)
        if (tool.python) config.digests = fx.buildDigests(dir, n, kind)
        const r = await runChild(tool, config)
        const size = fileSize(path)
        const entry = { kind, n, tool, size, r, config, runs: [r] }
        last.set(key, { n, r, size })
        results.push(entry)
        logRun(entry, r)
      }
      // Further rounds, in passes over the tools whose first run was valid and short, and over the
      // pair the per-request bar compares whatever their length.
      const passes = (x) => (x.r.wall < ROUND_MAX_S ? roundsFor(n) : PAIR.has(x.tool.id) ? longPairRounds : 1)
      const again = results.filter((x) => x.kind === kind && x.n === n && x.r.ok && passes(x) > 1)
      const most = Math.max(1, ...again.map(passes))
      for (let round = 2; round <= most; round++) {
        for (const x of again) {
          if (round > passes(x)) continue
          const r = await runChild(x.tool, x.config)
          x.runs.push(r)
          logRun(x, r, round)
        }
      }
      for (const x of again) x.r = medianRun(x.runs)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  for (const warmDir of warmDirs.values()) rmSync(warmDir, { recursive: true, force: true })

  // Recording: the same fetches live, and recorded by each tool that records to a file.
  let recording = ''
  if (!argv.includes('--no-recording')) {
    const { measureRecording } = await import('./record-scaling.mjs')
    const n = quick ? 10_000 : 100_000
    console.log(`recording N=${fmtN(n)}: live, dvd-rw binary, dvd-rw JSON, SnapshotAgent`)
    recording = await measureRecording({
      sizes: [n],
      tools: ['live', 'bin', 'json', 'snapshot'],
      rounds: quick ? 1 : 3,
      log: (line) => console.log(line),
    })
  }

  const minutes = (Date.now() - started) / 60_000
  const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`
  const md = report(results, info, command, minutes, recording)
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, 'RESULTS.md'), md)
  writeFileSync(
    join(outDir, 'results.svg'),
    renderChart(
      results.filter((x) => x.kind === mainKind && x.r.ok),
      { title: `${mainKind === 'json' ? 'JSON-text' : 'random'} 2 KiB bodies`, cap: CAP_S },
    ),
  )
  console.log(`\n${md}`)
  console.log(
    `wrote ${join(outDir, 'RESULTS.md')} and ${join(outDir, 'results.svg')} (${minutes.toFixed(1)} min)`,
  )
  // node:http clients: the same recordings replayed through axios, at the sizes nock.back finishes.
  const axiosSizes = SIZES.filter((n) => n <= 10_000)
  if (axiosSizes.length) {
    const axiosArgs = [`--sizes=${axiosSizes.join(',')}`, `--rounds=${quick ? 1 : 3}`]
    if (argv.includes('--json-text')) axiosArgs.push('--json-text')
    spawnSync(process.execPath, [join(here, 'axios-replay.mjs'), ...axiosArgs], { stdio: 'inherit' })
  }
  // Many recordings under one key: its own workload and report (see repeated-keys.mjs).
  const repeated = join(outDir, 'REPEATED_KEYS.md')
  spawnSync(
    process.execPath,
    [join(here, 'repeated-keys.mjs'), `--out=${repeated}`, ...(quick ? ['--cap=30'] : ['--rounds=3'])],
    { stdio: 'inherit' },
  )
}

function cell(x) {
  if (x.r.skipped) return null
  if (x.r.capped) return `> cap (${x.r.cap} s)`
  if (!x.r.ok) return `**invalid**: ${x.r.error ?? `${x.r.wrong} of ${fmtN(x.n)} bodies wrong`}`
  return null
}

function report(results, info, command, minutes, recording) {
  const lines = []
  lines.push('# dvd-rw against the alternatives: results')
  lines.push('')
  lines.push(
    `Generated by \`${command}\` on ${new Date().toISOString().slice(0, 10)} (${minutes.toFixed(1)} min of wall time). How to reproduce and what each column means: [README.md](README.md).`,
  )
  lines.push('')
  lines.push(
    `**Machine**: ${info.cpu}, ${info.cores} cores, ${info.memory}; Node ${info.node}; ${info.python}. **Peers**: ${info.peers}.`,
  )
  lines.push('')
  lines.push(
    `Workload: 3 hosts × 2 methods × 50 paths, unique \`?id=i&page=…\`, headers \`x-trace-id\` + \`accept\`, POST bodies \`{"i": i}\`, 2 KiB response bodies; all N requests replayed once through \`fetch\` in a seeded shuffled order, every body verified. Cap ${CAP_S} s per tool and N (${Math.max(CAP_S, 600)} s at N = 1,000,000). Ratios (×) are against dvd-rw binary (native) at the same N in the same run. Tools whose run takes under ${ROUND_MAX_S} s are run ${ROUNDS} times${SIZES.some((n) => roundsFor(n) !== ROUNDS) ? ` (${roundsFor(1000)} below N = 10,000)` : ''}, in passes over all tools, and each figure is the median of those runs (the per-request samples are listed under each table); longer runs are single, except dvd-rw binary and the MockAgent floor, run ${longPairRounds} times. The MockAgent floor runs right after dvd-rw binary in each pass, and their pass-by-pass ratios are listed too.`,
  )
  for (const kind of [mainKind, otherKind]) {
    const rows = results.filter((x) => x.kind === kind)
    if (!rows.length) continue
    lines.push('')
    lines.push(`## ${kind === 'json' ? 'JSON-text' : 'Random-byte'} bodies`)
    lines.push('')
    if (kind === mainKind) lines.push('![load time and per-request cost against N](results.svg)\n')
    lines.push(
      '| N | tool | file size | load (to 1st replay) | first use | per request | peak RSS | size × | load × | per request × | RSS × |',
    )
    lines.push('|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|')
    const samples = []
    const paired = []
    for (const n of [...new Set(rows.map((x) => x.n))]) {
      const base = rows.find((x) => x.n === n && x.tool.id === 'dvd-bin' && x.r.ok)
      const floor = rows.find((x) => x.n === n && x.tool.id === 'mockagent' && x.r.ok)
      const ours = base?.r.perRequestSamplesUs
      const theirs = floor?.r.perRequestSamplesUs
      if (ours && theirs && ours.length === theirs.length) {
        const pass = ours.map((us, i) => us / theirs[i])
        paired.push(
          `${fmtN(n)}: ${pass.map((x) => `${x.toFixed(2)}×`).join(', ')}; median **${median(pass).toFixed(2)}×**`,
        )
      }
      for (const x of rows.filter((y) => y.n === n)) {
        const head = `| ${fmtN(n)} | ${x.tool.label} |`
        if (x.r.skipped) {
          lines.push(`${head} ${x.r.skipped} | | | | | | | | |`)
          continue
        }
        const bad = cell(x)
        const size = x.size === null ? '—' : fmtBytes(x.size)
        if (bad) {
          lines.push(
            `${head} ${size} | ${bad} | | | ${x.r.maxRssMiB ? `${x.r.maxRssMiB.toFixed(0)} MiB` : ''} | | | | |`,
          )
          continue
        }
        const b = base?.r
        if (x.r.rounds > 1)
          samples.push(`${fmtN(n)} ${x.tool.label}: ${x.r.perRequestSamplesUs.map(fmtUs).join(', ')}`)
        lines.push(
          `${head} ${size} | ${fmtMs(x.r.loadMs)} | ${x.r.firstUseMs === undefined ? '—' : fmtMs(x.r.firstUseMs)} | ${fmtUs(x.r.perRequestUs)} | ${x.r.maxRssMiB.toFixed(0)} MiB | ${
            x.size !== null && base ? ratio(x.size, base.size) : '—'
          } | ${ratio(x.r.loadMs, b?.loadMs)} | ${ratio(x.r.perRequestUs, b?.perRequestUs)} | ${ratio(x.r.maxRssMiB, b?.maxRssMiB)} |`,
        )
      }
    }
    if (samples.length) {
      lines.push('')
      lines.push('Per-request samples of the tools run several times (the table shows their median):')
      lines.push('')
      for (const line of samples) lines.push(`- ${line}`)
    }
    if (paired.length) {
      lines.push('')
      lines.push(
        'dvd-rw binary per request against the MockAgent floor, pass by pass (the two run back to back in each pass):',
      )
      lines.push('')
      for (const line of paired) lines.push(`- ${line}`)
    }
  }
  if (recording) {
    lines.push('')
    lines.push('## Recording')
    lines.push('')
    lines.push(
      "N fetches of 2 KiB random bodies from a `node:http` server on 127.0.0.1, one at a time, each tool in a fresh process (`record-scaling.mjs`, see README.md): live, and recorded (`recordMode: 'all'`; SnapshotAgent in mode `record`). Close = the call that saves the file.",
    )
    lines.push(recording)
  }
  lines.push('')
  return lines.join('\n')
}

await main()
