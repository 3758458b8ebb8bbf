// Many recordings under one lookup key: GraphQL POSTs to one URL whose bodies differ, with the body
// left out of matching, replayed in recording order through `fetch`, each answer checked. Every run
// replays TOTAL requests: TOTAL / K URLs (`/graphql/<g>`), each holding K recordings, requests taken
// round-robin over the URLs, so K = 1 is the all-unique case and K = TOTAL a single key. Each tool
// and K runs in a fresh child process. See benchmark/README.md.
//
//   node benchmark/repeated-keys.mjs                    # K = 1, 100, 1,000, 10,000; every tool
//   node benchmark/repeated-keys.mjs --ks=1,10000 --tools=dvd-bin,dvd-json --cap=60 --rounds=3
//   options: --ks=…, --tools=dvd-bin,dvd-bin-ts,dvd-json,undici-snapshot,polly, --cap=SECONDS (60),
//            --rounds=R (1), --out=FILE (markdown report)
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const TOTAL = 10_000
const HOST = 'graphql.example.com'
const BODY_KIND = 'random'
const CONTENT_TYPE = 'application/json'

/** The URL of group `g`. */
const urlOf = (g) => `https://${HOST}/graphql/${g}`
/** The request body of the `j`-th request of group `g`. */
const queryOf = (g, j) =>
  JSON.stringify({ query: 'query Item($i: Int!) { item(i: $i) { id } }', variables: { g, j } })

/** Recording order: group after group, each group's K recordings in order. */
function* recordings(k) {
  for (let g = 0; g < TOTAL / k; g++) for (let j = 0; j < k; j++) yield { g, j, i: g * k + j }
}

/** Replay order: round-robin over the groups, each group's recordings in order. */
function* replayOrder(k) {
  const groups = TOTAL / k
  for (let t = 0; t < TOTAL; t++) {
    const g = t % groups
    const j = Math.floor(t / groups)
    yield { g, j, i: g * k + j }
  }
}

async function buildFixture(tool, dir, k) {
  const { body } = await import('./compare/workload.mjs')
  const recording = ({ g, j, i }) => ({
    request: {
      method: 'POST',
      url: urlOf(g),
      headers: [['content-type', CONTENT_TYPE]],
      body: Buffer.from(queryOf(g, j)),
    },
    outcome: {
      status: 200,
      headers: [['content-type', 'application/octet-stream']],
      body: Buffer.from(body(i, BODY_KIND)),
    },
  })
  switch (tool) {
    case 'dvd-bin':
    case 'dvd-bin-ts': {
      const { writeBinary } = await import('../dist/lib/formats/binary.js')
      const file = join(dir, 'k.dvd.lz4')
      const source = function* () {
        for (const r of recordings(k)) yield { kind: 'recording', recording: recording(r) }
      }
      writeBinary(file, source(), ['method', 'scheme', 'host', 'port', 'path', 'query'])
      return file
    }
    case 'dvd-json': {
      const { serializeJson } = await import('../dist/lib/formats/json.js')
      const file = join(dir, 'k.dvd.json')
      const parts = []
      for (const chunk of serializeJson(
        (function* () {
          for (const r of recordings(k)) yield recording(r)
        })(),
      ))
        parts.push(chunk)
      writeFileSync(file, parts.join(''))
      return file
    }
    case 'undici-snapshot': {
      const file = join(dir, 'snapshots.json')
      const { createRequire } = await import('node:module')
      const require = createRequire(import.meta.url)
      const { dirname } = await import('node:path')
      const root = dirname(require.resolve('undici'))
      const { createRequestHash } = require(join(root, 'lib/mock/snapshot-recorder.js'))
      const entries = []
      for (let g = 0; g < TOTAL / k; g++) {
        const request = { method: 'POST', url: urlOf(g), headers: { 'content-type': CONTENT_TYPE }, body: '' }
        const responses = []
        for (let j = 0; j < k; j++)
          responses.push({
            statusCode: 200,
            headers: { 'content-type': 'application/octet-stream' },
            body: Buffer.from(body(g * k + j, BODY_KIND)).toString('base64'),
            trailers: {},
          })
        entries.push({
          hash: createRequestHash(request),
          snapshot: { request, responses, callCount: 0, timestamp: new Date().toISOString() },
        })
      }
      writeFileSync(file, JSON.stringify(entries))
      return file
    }
    case 'polly': {
      const { Polly } = await import('@pollyjs/core')
      const polly = new Polly('dvd-rw-repeated-keys', { logLevel: 'silent' })
      const recordingId = polly.recordingId
      await polly.stop()
      const recordingsDir = join(dir, 'polly')
      mkdirSync(join(recordingsDir, recordingId), { recursive: true })
      const entries = []
      for (const { g, j, i } of recordings(k)) {
        const b = Buffer.from(body(i, BODY_KIND))
        // Polly's entry id: md5 of its stable-stringified identifiers (method and URL: body off).
        const id = createHash('md5')
          .update(`{"method":"POST","url":${JSON.stringify(urlOf(g))}}`)
          .digest('hex')
        entries.push({
          _id: id,
          _order: j,
          cache: {},
          request: {
            bodySize: Buffer.byteLength(queryOf(g, j)),
            cookies: [],
            headers: [{ name: 'content-type', value: CONTENT_TYPE }],
            headersSize: -1,
            httpVersion: 'HTTP/1.1',
            method: 'POST',
            postData: { mimeType: CONTENT_TYPE, text: queryOf(g, j) },
            queryString: [],
            url: urlOf(g),
          },
          response: {
            bodySize: -1,
            content: {
              encoding: 'base64',
              mimeType: 'application/octet-stream',
              size: b.length,
              text: b.toString('base64'),
            },
            cookies: [],
            headers: [{ name: 'content-type', value: 'application/octet-stream' }],
            headersSize: -1,
            httpVersion: 'HTTP/1.1',
            redirectURL: '',
            status: 200,
            statusText: 'OK',
          },
          startedDateTime: new Date().toISOString(),
          time: 0,
          timings: { blocked: -1, connect: -1, dns: -1, receive: 0, send: 0, ssl: -1, wait: 0 },
        })
      }
      const har = {
        log: {
          _recordingName: 'dvd-rw-repeated-keys',
          creator: { comment: 'persister:fs', name: 'Polly.JS', version: '6.0.6' },
          entries,
          pages: [],
          version: '1.2',
        },
      }
      writeFileSync(join(recordingsDir, recordingId, 'recording.har'), JSON.stringify(har))
      return recordingsDir
    }
    default:
      throw new Error(`unknown tool ${tool}`)
  }
}

/** In the child: opens the fixture, replays TOTAL requests, prints one JSON line. */
async function worker({ tool, path, k }) {
  const { body } = await import('./compare/workload.mjs')
  let fetchOne
  let close
  switch (tool) {
    case 'dvd-bin':
    case 'dvd-bin-ts':
    case 'dvd-json': {
      const { DVDLoader } = await import('../dist/lib/index.js')
      const dvd = await DVDLoader.open(path, { recordMode: 'none', onWarning() {} })
      const dispatcher = dvd.dispatcher
      fetchOne = (url, init) => fetch(url, { ...init, dispatcher })
      close = () => dvd.close()
      break
    }
    case 'undici-snapshot': {
      const { SnapshotAgent } = await import('undici')
      const dispatcher = new SnapshotAgent({
        mode: 'playback',
        snapshotPath: path,
        matchHeaders: ['content-type'],
        matchBody: false,
      })
      fetchOne = (url, init) => fetch(url, { ...init, dispatcher })
      close = () => dispatcher.close()
      break
    }
    case 'polly': {
      const { Polly } = await import('@pollyjs/core')
      const { default: FetchAdapter } = await import('@pollyjs/adapter-fetch')
      const { default: FSPersister } = await import('@pollyjs/persister-fs')
      const polly = new Polly('dvd-rw-repeated-keys', {
        adapters: [FetchAdapter],
        adapterOptions: { fetch: { context: globalThis } },
        persister: FSPersister,
        persisterOptions: { fs: { recordingsDir: path } },
        mode: 'replay',
        recordIfMissing: false,
        logLevel: 'silent',
        matchRequestsBy: { headers: false, body: false, order: true },
      })
      fetchOne = (url, init) => fetch(url, init)
      close = () => polly.stop()
      break
    }
    default:
      throw new Error(`unknown tool ${tool}`)
  }
  let wrong = 0
  const t0 = performance.now()
  for (const { g, j, i } of replayOrder(k)) {
    const res = await fetchOne(urlOf(g), {
      method: 'POST',
      headers: { 'content-type': CONTENT_TYPE },
      body: queryOf(g, j),
    })
    const got = new Uint8Array(await res.arrayBuffer())
    if (res.status !== 200 || Buffer.compare(got, body(i, BODY_KIND)) !== 0) wrong++
  }
  const perRequestUs = ((performance.now() - t0) * 1000) / TOTAL
  await close()
  return { ok: wrong === 0, wrong, perRequestUs }
}

function runChild(config, env, capS) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), '--child', JSON.stringify(config)],
      {
        env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
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
    }, capS * 1000)
    child.on('close', (code) => {
      clearTimeout(timer)
      if (capped) return resolve({ ok: false, capped: true })
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)))
      } catch {
        resolve({ ok: false, error: `exit ${code}: ${err.trim().split('\n').slice(-3).join(' ')}` })
      }
    })
  })
}

const TOOLS = [
  { id: 'dvd-bin', label: 'dvd-rw binary (native)', fixture: 'dvd-bin' },
  { id: 'dvd-bin-ts', label: 'dvd-rw binary (TS reader)', fixture: 'dvd-bin', env: { DVD_RW_NATIVE: '0' } },
  { id: 'dvd-json', label: 'dvd-rw JSON', fixture: 'dvd-json' },
  { id: 'undici-snapshot', label: 'undici SnapshotAgent', fixture: 'undici-snapshot' },
  { id: 'polly', label: 'Polly.js (fetch + fs, order)', fixture: 'polly' },
]

async function main(argv) {
  const known = ['ks', 'tools', 'cap', 'rounds', 'out']
  for (const arg of argv) {
    if (!known.some((name) => arg.startsWith(`--${name}=`))) {
      console.error(`unknown option ${arg}: expected ${known.map((n) => `--${n}=…`).join(', ')}`)
      process.exit(2)
    }
  }
  const opt = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
  const ks = (opt('ks') ?? '1,100,1000,10000').split(',').map(Number)
  for (const k of ks) if (!(TOTAL % k === 0)) throw new Error(`K must divide ${TOTAL}: ${k}`)
  const only = opt('tools')?.split(',')
  const tools = only ? TOOLS.filter((t) => only.includes(t.id)) : TOOLS
  const capS = Number(opt('cap') ?? 60)
  const rounds = Number(opt('rounds') ?? 1)
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
  const results = new Map() // `${tool}:${k}` → result
  const capped = new Set()
  for (const k of ks) {
    const dir = mkdtempSync(join(tmpdir(), `dvd-rw-repeated-${k}-`))
    try {
      const built = new Map()
      for (const tool of tools) {
        if (capped.has(tool.id)) {
          results.set(`${tool.id}:${k}`, { ok: false, skipped: true })
          console.log(`  K=${k} ${tool.label}: > cap (already at a smaller K)`)
          continue
        }
        if (!built.has(tool.fixture)) built.set(tool.fixture, await buildFixture(tool.fixture, dir, k))
        const runs = []
        for (let round = 0; round < rounds; round++) {
          const r = await runChild({ tool: tool.id, path: built.get(tool.fixture), k }, tool.env, capS)
          runs.push(r)
          if (!r.ok) break
        }
        const bad = runs.find((r) => !r.ok)
        const r = bad ?? {
          ok: true,
          perRequestUs: median(runs.map((x) => x.perRequestUs)),
          samples: runs.map((x) => x.perRequestUs),
        }
        if (r.capped) capped.add(tool.id)
        results.set(`${tool.id}:${k}`, r)
        console.log(
          `  K=${k} ${tool.label}: ${r.ok ? `${r.perRequestUs.toFixed(1)} µs/request${runs.length > 1 ? ` (${runs.map((x) => x.perRequestUs.toFixed(1)).join(', ')})` : ''}` : r.capped ? `> cap (${capS} s)` : `INVALID ${r.error ?? `${r.wrong} wrong`}`}`,
        )
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const cell = (r) =>
    !r
      ? '—'
      : r.ok
        ? `${r.perRequestUs.toFixed(1)} µs`
        : r.capped || r.skipped
          ? `> cap (${capS} s)`
          : '**invalid**'
  const lines = [
    `Repeated keys: ${TOTAL.toLocaleString('en')} GraphQL POSTs replayed through \`fetch\` per run, K recordings under each of ${TOTAL.toLocaleString('en')}/K keys (body not matched), in order, every answer checked. Per request, median of ${rounds} run(s).`,
    '',
    `| K | ${tools.map((t) => t.label).join(' | ')} |`,
    `|--:|${tools.map(() => '--:').join('|')}|`,
  ]
  for (const k of ks)
    lines.push(
      `| ${k.toLocaleString('en')} | ${tools.map((t) => cell(results.get(`${t.id}:${k}`))).join(' | ')} |`,
    )
  const bin = (k) => results.get(`dvd-bin:${k}`)
  const json = (k) => results.get(`dvd-json:${k}`)
  const first = bin(ks[0])
  const last = bin(ks.at(-1))
  if (first?.ok && last?.ok)
    lines.push(
      '',
      `dvd-rw binary (native), K = ${ks.at(-1)} against K = ${ks[0]}: ${(last.perRequestUs / first.perRequestUs).toFixed(2)}×`,
    )
  for (const k of ks)
    if (bin(k)?.ok && json(k)?.ok)
      lines.push(
        `- K = ${k}: binary (native) / JSON = ${(bin(k).perRequestUs / json(k).perRequestUs).toFixed(2)}×`,
      )
  const md = lines.join('\n')
  console.log(`\n${md}`)
  const out = opt('out')
  if (out) writeFileSync(out, `${md}\n`)
}

if (process.argv[2] === '--child') {
  const config = JSON.parse(process.argv[3])
  try {
    process.stdout.write(`\n${JSON.stringify(await worker(config))}\n`)
  } catch (error) {
    process.stdout.write(
      `\n${JSON.stringify({ ok: false, error: String(error?.message ?? error).slice(0, 300) })}\n`,
    )
  }
  process.exit(0)
} else {
  await main(process.argv.slice(2))
}
