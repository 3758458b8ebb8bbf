// Memory of workers sharing one binary DVD: W processes replay every recording of one large
// binary DVD at the same time; the figures are the file's pages in the page cache (fincore), the
// system's MemAvailable and Cached (/proc/meminfo), and each worker's Rss and Pss
// (/proc/PID/smaps_rollup) once it has replayed everything. See docs/RELIABILITY.md.
//   npm run build
//   node benchmark/shared-replay.mjs make FILE MEGABYTES     # 1 MiB random bodies, one recording each
//   node benchmark/shared-replay.mjs measure FILE WORKERS    # evicts FILE from the cache first
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { writeBinary } from '../dist/lib/formats/binary.js'
import { DEFAULT_MATCH_ON, DVDLoader } from '../dist/lib/index.js'

const MiB = 1 << 20
const url = (i) => `http://shared.example/r/${i}`
const [command, file, arg] = process.argv.slice(2)

function* recordings(count) {
  for (let i = 0; i < count; i++) {
    const recording = {
      request: { method: 'GET', url: url(i), headers: [] },
      outcome: {
        status: 200,
        headers: [['content-type', 'application/octet-stream']],
        body: randomBytes(MiB),
      },
    }
    yield { kind: 'recording', recording }
  }
}

/** kB figures of /proc/meminfo. */
function meminfo() {
  const out = {}
  for (const line of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line)
    if (m) out[m[1]] = Number(m[2])
  }
  return out
}

/** kB figures of /proc/PID/smaps_rollup. */
function rollup(pid) {
  const out = {}
  for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line)
    if (m) out[m[1]] = Number(m[2])
  }
  return out
}

/** MiB of `file` in the page cache. */
function cachedMiB(path) {
  const out = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' })
  return Number(out.stdout.trim()) / MiB
}

const mb = (kB) => `${(kB / 1024).toFixed(0)} MiB`

if (command === 'make') {
  const count = Number(arg)
  writeBinary(file, recordings(count), DEFAULT_MATCH_ON)
  console.log(`${file}: ${count} recordings, ${(statSync(file).size / MiB).toFixed(0)} MiB`)
} else if (command === 'worker') {
  // Replays every recording once, reading each body to its end, then reports and waits.
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  let bytes = 0
  for (let i = 0; i < dvd.count; i++) bytes += (await (await dvd.fetch(url(i))).arrayBuffer()).byteLength
  process.stdout.write(`${JSON.stringify({ bytes })}\n`)
  process.stdin.once('data', () => process.exit(0))
} else if (command === 'measure') {
  const workers = Number(arg)
  // Drop the file from the page cache, so that what the workers bring in is seen.
  spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0'])
  const before = meminfo()
  const cachedBefore = cachedMiB(file)
  const started = Date.now()
  const children = Array.from({ length: workers }, () =>
    spawn(process.execPath, [fileURLToPath(import.meta.url), 'worker', file], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  )
  const replayed = await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          let out = ''
          child.stdout.on('data', (chunk) => {
            out += chunk
            if (out.includes('\n')) resolve(JSON.parse(out).bytes)
          })
        }),
    ),
  )
  const seconds = (Date.now() - started) / 1000
  const after = meminfo()
  const rollups = children.map((child) => rollup(child.pid))
  const cachedAfter = cachedMiB(file)
  for (const child of children) child.stdin.write('\n')
  console.log(
    `file: ${(statSync(file).size / MiB).toFixed(0)} MiB; ${workers} worker(s) replayed ${replayed.map((b) => (b / MiB).toFixed(0)).join(' + ')} MiB of bodies in ${seconds.toFixed(1)} s`,
  )
  console.log(
    `page cache holding the file (fincore): ${cachedBefore.toFixed(0)} MiB before, ${cachedAfter.toFixed(0)} MiB after`,
  )
  console.log(
    `system (/proc/meminfo): MemAvailable ${mb(before.MemAvailable)} -> ${mb(after.MemAvailable)} (${mb(after.MemAvailable - before.MemAvailable)} change); Cached ${mb(before.Cached)} -> ${mb(after.Cached)} (${mb(after.Cached - before.Cached)} change)`,
  )
  rollups.forEach((r, i) => {
    console.log(
      `worker ${i + 1} (smaps_rollup): Rss ${mb(r.Rss)}, Pss ${mb(r.Pss)} (Pss_File ${mb(r.Pss_File ?? 0)}, Pss_Anon ${mb(r.Pss_Anon ?? 0)})`,
    )
  })
  const sum = (key) => rollups.reduce((s, r) => s + (r[key] ?? 0), 0)
  console.log(
    `all workers: Rss ${mb(sum('Rss'))}, Pss ${mb(sum('Pss'))}; Pss + file in cache: ${mb(sum('Pss') + cachedAfter * 1024)}`,
  )
} else {
  console.error('usage: node benchmark/shared-replay.mjs make FILE MEGABYTES | measure FILE WORKERS')
  process.exitCode = 2
}
