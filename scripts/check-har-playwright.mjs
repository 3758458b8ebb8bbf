/**
 * Checks that Playwright replays the HAR files dvd-rw writes: records calls to the test server
 * into a `.har` DVD, stops the server, then serves a real Chromium page from that file with
 * Playwright's `routeFromHAR` and compares what the page's fetch sees with what was seen live.
 * Not part of `npm test` (it needs a browser):
 *
 *   npm run build && npm install --no-save playwright-core
 *   CHROMIUM=/usr/bin/chromium node scripts/check-har-playwright.mjs
 */
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { DVDLoader } from '../dist/lib/index.js'
import { startServer } from '../dist/test/helpers/server.js'

const CALLS = [
  ['/json?a=1&b=2'],
  ['/gzip'],
  ['/bin'],
  ['/redirect'],
  ['/reason'],
  ['/status/500'],
  ['/echo', { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } }],
]

const file = join(tmpdir(), `dvd-rw-playwright-${process.pid}.har`)
const server = await startServer()
const origin = server.origin
const rec = await DVDLoader.open(file, { recordMode: 'once' })
const live = []
for (const [path, init] of CALLS) {
  const res = await rec.fetch(origin + path, init)
  live.push({ status: res.status, body: Buffer.from(await res.arrayBuffer()).toString('base64') })
}
await rec.close()
await server.close()
console.log(`${file}: ${JSON.parse(readFileSync(file, 'utf8')).log.entries.length} entries`)

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ['--no-sandbox'] })
try {
  const context = await browser.newContext()
  // Anything not in the HAR fails: the server is gone, so every answer comes from the file.
  await context.routeFromHAR(file, { notFound: 'abort' })
  const page = await context.newPage()
  await page.goto(`${origin}/json?a=1&b=2`)
  const seen = await page.evaluate(async (calls) => {
    const out = []
    for (const [path, init] of calls) {
      const res = await fetch(path, init)
      let binary = ''
      for (const byte of new Uint8Array(await res.arrayBuffer())) binary += String.fromCharCode(byte)
      out.push({ status: res.status, body: btoa(binary) })
    }
    return out
  }, CALLS)
  let same = 0
  CALLS.forEach(([path], i) => {
    const ok = JSON.stringify(seen[i]) === JSON.stringify(live[i])
    if (ok) same++
    else console.log(`different: ${path}`, { live: live[i], playwright: seen[i] })
  })
  console.log(`Playwright routeFromHAR replayed ${same} of ${CALLS.length} calls as seen live`)
  process.exitCode = same === CALLS.length ? 0 : 1
} finally {
  await browser.close()
  rmSync(file, { force: true })
}
