// Recording at scale: N fetches of 2 KiB bodies to a node:http server on 127.0.0.1, recorded into a
// binary DVD, a JSON DVD and undici's SnapshotAgent (record mode), against the same fetches live.
// Each run is a fresh process; the server runs in a process of its own, shared by all runs.
//
//   node benchmark/record-scaling.mjs [--sizes=20000,200000] [--tools=live,bin,json,snapshot] [--rounds=1]
//
// Per run: per request (the N fetches, one at a time, opening the DVD excluded), peak RSS of the
// child (`process.resourceUsage().maxRSS`), and the time of the close that saves the file
// (`dvd.close()`, SnapshotAgent's `saveSnapshots()` then `close()`), with the saved file's size.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
const args = process.argv.slice(2)
const opt = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)

/** Requests before the timed ones, recorded too: fetch's JIT warm-up. */
const WARMUP = 1000

async function worker() {
  const [tool, n, port, dir] = [opt('tool'), Number(opt('n')), Number(opt('port')), opt('dir')]
  const url = (i) => `http://127.0.0.1:${port}/v1/items/${i % 50}?id=${i}`
  // --upstream=mock: undici's MockAgent answers instead of the server (no sockets), so that a
  // million requests take minutes; `live` is then the MockAgent alone.
  const mock = opt('upstream') === 'mock' ? await mockUpstream(port) : undefined
  let fetchOne
  let close = async () => {}
  let file = null
  if (tool === 'live') {
    fetchOne = mock ? (i) => fetch(url(i), { dispatcher: mock }) : (i) => fetch(url(i))
  } else if (tool === 'bin' || tool === 'json') {
    const { DVDLoader } = await import('../dist/lib/index.js')
    file = join(dir, tool === 'bin' ? 'rec.dvd.lz4' : 'rec.dvd.json')
    const dvd = await DVDLoader.open(file, { recordMode: 'all', ...(mock ? { upstream: mock } : {}) })
    fetchOne = (i) => dvd.fetch(url(i))
    close = () => dvd.close()
  } else if (tool === 'snapshot') {
    const { SnapshotAgent } = await import('undici')
    file = join(dir, 'snapshots.json')
    const agent = new SnapshotAgent({ mode: 'record', snapshotPath: file })
    fetchOne = (i) => fetch(url(i), { dispatcher: agent })
    close = async () => {
      await agent.saveSnapshots()
      await agent.close()
    }
  } else throw new Error(`unknown tool ${tool}`)
  let bytes = 0
  for (let i = 0; i < WARMUP; i++) bytes += (await (await fetchOne(n + i)).arrayBuffer()).byteLength
  const start = process.hrtime.bigint()
  const cpuStart = process.cpuUsage()
  for (let i = 0; i < n; i++) bytes += (await (await fetchOne(i)).arrayBuffer()).byteLength
  const loop = Number(process.hrtime.bigint() - start) / 1e3
  const cpu = process.cpuUsage(cpuStart)
  const closeStart = process.hrtime.bigint()
  await close()
  const closeMs = Number(process.hrtime.bigint() - closeStart) / 1e6
  if (bytes !== (n + WARMUP) * 2048) throw new Error(`received ${bytes} bytes`)
  const result = {
    perRequestUs: loop / n,
    // CPU time of the whole process (every thread) per request: less moved by other load than wall time.
    cpuUs: (cpu.user + cpu.system) / n,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    closeMs,
    fileMiB: file ? statSync(file).size / 2 ** 20 : null,
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

/** A MockAgent answering every GET to the server's origin with 2 KiB of random bytes. */
async function mockUpstream(port) {
  const { MockAgent } = await import('undici')
  const agent = new MockAgent()
  agent.disableNetConnect()
  const body = Buffer.alloc(2048)
  for (let i = 0; i < body.length; i++) body[i] = (Math.imul(i + 1, 0x9e3779b1) >>> 13) & 0xff
  agent
    .get(`http://127.0.0.1:${port}`)
    .intercept({ path: () => true, method: 'GET' })
    .reply(200, body, { headers: { 'content-type': 'application/octet-stream', 'content-length': '2048' } })
    .persist()
  return agent
}

async function startServer() {
  const server = spawn(process.execPath, [join(here, 'compare/live-server.mjs'), 'random'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  for await (const chunk of server.stdout) {
    out += chunk
    if (out.includes('\n')) break
  }
  return { server, port: Number(out.trim()) }
}

async function run(tool, n, port) {
  const dir = mkdtempSync(join(tmpdir(), 'dvd-record-scaling-'))
  try {
    const child = spawn(
      process.execPath,
      [
        fileURLToPath(import.meta.url),
        '--worker',
        `--tool=${tool}`,
        `--n=${n}`,
        `--port=${port}`,
        `--dir=${dir}`,
        ...(opt('upstream') ? [`--upstream=${opt('upstream')}`] : []),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.on('data', (c) => {
      out += c
    })
    const [code] = await once(child, 'exit')
    if (code !== 0) return { failed: `exit ${code}` }
    return JSON.parse(out.trim().split('\n').pop())
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const LABELS = {
  live: 'live (no recording)',
  bin: 'dvd-rw binary',
  json: 'dvd-rw JSON',
  snapshot: 'undici SnapshotAgent (record)',
}

/**
 * Runs every tool at every size (`rounds` passes over the tools, so that the machine's drift over
 * minutes affects each alike) and returns the tables, in Markdown, one per size.
 */
export async function measureRecording({ sizes, tools, rounds = 1, log = (line) => console.error(line) }) {
  const { server, port } = await startServer()
  const lines = []
  try {
    for (const n of sizes) {
      const results = {}
      for (let round = 0; round < rounds; round++) {
        for (const tool of tools) {
          const r = await run(tool, n, port)
          log(
            `  recording N=${n.toLocaleString('en')} ${LABELS[tool]} round ${round + 1}: ${JSON.stringify(r)}`,
          )
          results[tool] ??= []
          results[tool].push(r)
        }
      }
      const live = results.live?.filter((r) => !r.failed) ?? []
      const liveUs = live.length ? median(live.map((r) => r.perRequestUs)) : undefined
      const liveRss = live.length ? median(live.map((r) => r.maxRssMiB)) : undefined
      lines.push('', `N = ${n.toLocaleString('en')}${rounds > 1 ? ` (medians of ${rounds} runs)` : ''}`, '')
      lines.push(
        '| tool | per request | × live | CPU per request | peak RSS | over live | close (save) | file |',
      )
      lines.push('|---|--:|--:|--:|--:|--:|--:|--:|')
      for (const tool of tools) {
        const ok = results[tool].filter((r) => !r.failed)
        if (ok.length === 0) {
          lines.push(`| ${LABELS[tool]} | failed (${results[tool][0].failed}) | | | | | | |`)
          continue
        }
        const us = median(ok.map((r) => r.perRequestUs))
        const cpuUs = median(ok.map((r) => r.cpuUs))
        const rss = median(ok.map((r) => r.maxRssMiB))
        const closeMs = median(ok.map((r) => r.closeMs))
        const file = ok[0].fileMiB
        lines.push(
          `| ${LABELS[tool]} | ${us.toFixed(1)} µs | ${liveUs ? `${(us / liveUs).toFixed(2)}×` : '—'} | ${cpuUs.toFixed(1)} µs | ${rss.toFixed(0)} MiB | ${
            liveRss !== undefined ? `${(rss - liveRss).toFixed(0)} MiB` : '—'
          } | ${tool === 'live' ? '—' : `${closeMs.toFixed(0)} ms`} | ${file === null ? '—' : `${file.toFixed(0)} MiB`} |`,
        )
      }
    }
  } finally {
    server.kill()
  }
  return lines.join('\n')
}

async function main() {
  const sizes = (opt('sizes') ?? '20000,200000').split(',').map(Number)
  const tools = (opt('tools') ?? 'live,bin,json,snapshot').split(',')
  const rounds = Number(opt('rounds') ?? 1)
  console.log(await measureRecording({ sizes, tools, rounds }))
}

if (args.includes('--worker')) await worker()
else if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
