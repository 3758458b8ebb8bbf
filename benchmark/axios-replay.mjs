// The node:http workload: the benchmark's recordings replayed through axios (default adapter)
// by dvd-rw, by nock.back, by axios against the live local server, and by a fixed in-memory
// reply given through the same interception (the floor of node:http replay, as MockAgent is the
// floor for fetch). Each run is a fresh process; prints per-request times and ratios.
//
//   node benchmark/axios-replay.mjs [--sizes=1000,10000] [--rounds=3] [--json-text]
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildDvdBinary, buildNockBack } from './compare/fixtures.mjs'

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=')
    return [k, v ?? 'true']
  }),
)
const sizes = (args.sizes ?? '1000,10000').split(',').map(Number)
const rounds = Number(args.rounds ?? 3)
const kind = args['json-text'] ? 'json' : 'random'
const tools = ['dvd-bin', 'floor', 'nock', 'live']
const worker = fileURLToPath(new URL('compare/axios-worker.mjs', import.meta.url))
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

console.log(`axios (default adapter) replay, ${kind} 2 KiB bodies, median of ${rounds} runs per tool`)
console.log(
  '| N | dvd-rw µs/req | floor (fixed reply) | nock.back | live server | dvd-rw / floor | dvd-rw / nock | dvd-rw / live |',
)
console.log('|---|---|---|---|---|---|---|---|')
for (const n of sizes) {
  const dir = mkdtempSync(join(tmpdir(), 'dvd-axios-bench-'))
  const paths = {
    'dvd-bin': buildDvdBinary(dir, n, kind),
    nock: buildNockBack(dir, n, kind),
    floor: null,
    live: null,
  }
  const runs = Object.fromEntries(tools.map((t) => [t, []]))
  // Passes over all tools, so a drift of the machine's speed touches every tool alike.
  for (let r = 0; r < rounds; r++) {
    for (const tool of tools) {
      const spec = JSON.stringify({ tool, path: paths[tool], n, kind, seed: r + 1 })
      const out = spawnSync(process.execPath, [worker, spec], { encoding: 'utf8', timeout: 600_000 })
      const line = out.stdout.trim().split('\n').at(-1) ?? ''
      const result = line ? JSON.parse(line) : { ok: false, error: out.stderr }
      if (!result.ok) throw new Error(`${tool} at N=${n}: ${result.error ?? `${result.wrong} wrong bodies`}`)
      runs[tool].push(result.perRequestUs)
    }
  }
  rmSync(dir, { recursive: true, force: true })
  const us = Object.fromEntries(tools.map((t) => [t, median(runs[t])]))
  const ratio = (t) => (us['dvd-bin'] / us[t]).toFixed(2)
  console.log(
    `| ${n.toLocaleString('en')} | ${us['dvd-bin'].toFixed(1)} | ${us.floor.toFixed(1)} | ${us.nock.toFixed(1)} | ${us.live.toFixed(1)} | ${ratio('floor')}× | ${ratio('nock')}× | ${ratio('live')}× |`,
  )
}
