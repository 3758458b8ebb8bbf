// Lookup cost against DVD size: 10,000 lookups into DVDs of 1,000 and 100,000 recordings (and
// 1,000,000 with --large), for JSON (in-memory index) and binary (memory-mapped index) DVDs.
// Prints the median cost per lookup and the ratio between the largest and smallest DVD.
//
//   npm run build && node benchmark/lookup-scaling.mjs [--large]
//
// Lookups go through DVD.decide(), the exact path the interceptor takes (filters, key, index
// probe, candidate decode), without fetch around it. Not part of npm test.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DVDLoader } from '../dist/lib/index.js'

const LOOKUPS = 10_000
const sizes = process.argv.includes('--large') ? [1_000, 100_000, 1_000_000] : [1_000, 100_000]
const hosts = ['api.example.com', 'cdn.example.com', 'auth.example.com']
const methods = ['GET', 'POST']
const body = Buffer.alloc(2048, 'x')

function recording(i) {
  const host = hosts[i % 3]
  const method = methods[Math.floor(i / 3) % 2]
  const path = `/v1/items/${Math.floor(i / 6) % 50}`
  return {
    request: { method, url: `https://${host}${path}?id=${i}`, headers: [['accept', 'application/json']] },
    outcome: { status: 200, headers: [['content-type', 'application/json']], body },
  }
}

async function build(file, n) {
  const dvd = await DVDLoader.open(file, { recordMode: 'all' })
  for (let i = 0; i < n; i++) dvd.dvd.record(recording(i).request, recording(i).outcome)
  await dvd.close()
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

async function measure(file, n) {
  const t0 = performance.now()
  const dvd = await DVDLoader.open(file, { recordMode: 'none', allowPlaybackRepeats: true })
  const openMs = performance.now() - t0
  // A seeded shuffle of request ids spread over the whole DVD.
  let x = 12345
  const ids = Array.from({ length: LOOKUPS }, () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    return x % n
  })
  const rounds = []
  for (let round = 0; round < 5; round++) {
    const start = performance.now()
    for (const id of ids) {
      const decision = dvd.dvd.decide(recording(id).request)
      if (decision.kind !== 'replay') throw new Error(`unexpected ${decision.kind}`)
    }
    rounds.push(((performance.now() - start) * 1000) / LOOKUPS)
  }
  await dvd.close()
  return { openMs, usPerLookup: median(rounds) }
}

const dir = mkdtempSync(join(tmpdir(), 'dvd-rw-bench-'))
try {
  console.log(`| format | recordings | open (ms) | µs per lookup (median of 5 × ${LOOKUPS}) |`)
  console.log('|---|---|---|---|')
  for (const format of ['json', 'binary']) {
    const results = []
    for (const n of sizes) {
      const file = join(dir, `n${n}.${format === 'json' ? 'dvd.json' : 'dvd.lz4'}`)
      await build(file, n)
      const r = await measure(file, n)
      results.push(r)
      console.log(
        `| ${format} | ${n.toLocaleString('en')} | ${r.openMs.toFixed(1)} | ${r.usPerLookup.toFixed(2)} |`,
      )
    }
    const ratio = results.at(-1).usPerLookup / results[0].usPerLookup
    console.log(
      `| ${format} | ratio ${sizes.at(-1).toLocaleString('en')} / ${sizes[0].toLocaleString('en')} | | ${ratio.toFixed(2)}× |`,
    )
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
