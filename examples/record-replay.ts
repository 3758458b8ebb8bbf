/**
 * The main job, end to end: start a local API on 127.0.0.1, record a few calls into a DVD, stop the
 * server, replay the same calls offline from the DVD, and print what happened.
 *
 *   npm start            (writes examples/out/example.dvd.lz4, a binary DVD)
 */
import { once } from 'node:events'
import { rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { DVDLoader, UnmatchedRequestError } from '../lib/index.js'

const outDir = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'examples', 'out')
const file = join(outDir, 'example.dvd.lz4')

async function startApi() {
  let calls = 0
  const server = createServer((req, res) => {
    calls++
    if (req.url === '/users/1') {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ id: 1, name: 'Ada' }))
    } else if (req.url === '/report') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' })
      res.end(gzipSync('quarterly report\n'.repeat(20)))
    } else {
      res.writeHead(404).end('not found')
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return { origin: `http://127.0.0.1:${port}`, calls: () => calls, server }
}

async function calls(origin: string): Promise<string[]> {
  const lines: string[] = []
  const user = await fetch(`${origin}/users/1`)
  lines.push(`GET /users/1 → ${user.status} ${JSON.stringify(await user.json())}`)
  const report = await fetch(`${origin}/report`)
  const text = await report.text()
  lines.push(`GET /report  → ${report.status} ${text.length} characters (gzip on the wire)`)
  const missing = await fetch(`${origin}/nope`)
  lines.push(`GET /nope    → ${missing.status}`)
  return lines
}

async function main() {
  await rm(file, { force: true })
  const api = await startApi()

  console.log(`1. Recording against the live server at ${api.origin}`)
  const recorded = await DVDLoader.use(file, { recordMode: 'all' }, () => calls(api.origin))
  for (const line of recorded) console.log(`   ${line}`)
  console.log(`   server answered ${api.calls()} requests; DVD saved to ${file}`)

  api.server.closeAllConnections()
  await new Promise((resolve) => api.server.close(resolve))
  console.log('2. Server stopped. Replaying from the DVD with no network')
  const replayed = await DVDLoader.use(file, { recordMode: 'none' }, async (dvd) => {
    const lines = await calls(api.origin)
    console.log(`   played ${dvd.playCount} of ${dvd.count} recordings; all played: ${dvd.allPlayed}`)
    return lines
  })
  for (const line of replayed) console.log(`   ${line}`)
  const same = JSON.stringify(recorded) === JSON.stringify(replayed)
  console.log(`   replay ${same ? 'matches' : 'DIFFERS FROM'} the live run`)

  console.log('3. A request that was never recorded fails with a message saying why')
  try {
    await DVDLoader.use(file, { recordMode: 'none' }, () => fetch(`${api.origin}/users/2`))
  } catch (error) {
    const cause = (error as Error).cause
    if (!(cause instanceof UnmatchedRequestError)) throw error
    console.log(cause.message.replace(/^/gm, '   '))
  }
  if (!same) process.exitCode = 1
}

await main()
