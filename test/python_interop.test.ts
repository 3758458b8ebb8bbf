/**
 * Interop with the real Python dvd-rw (0.1.6, httpx), installed by `bash scripts/python-venv.sh`:
 * a DVD recorded by Node replays in Python, and one recorded by Python replays in Node, each with
 * the server stopped and with what the other side saw live. The venv is created on the first run
 * when `python3` exists (and cached); without `python3`, or with DVD_SKIP_PYTHON=1, these tests are
 * skipped and one line says why.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { Agent } from 'undici'
import { DVDLoader, type LoadedDVD, type MatcherName } from '../lib/index.js'
import {
  type PythonCall,
  type PythonOutcome,
  preparePython,
  pythonClient,
  pythonLoads,
} from './helpers/python.js'
import { ACCEPTED_BY_PYTHON, REFUSED_BY_PYTHON } from './helpers/python_schema.js'
import { ALL_BYTES, closedPort, startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

const skipReason = await preparePython()
if (skipReason) console.log(`Python interop tests skipped: ${skipReason}.`)
const pythonTest = skipReason ? test.skip : test

/** Python's matchers without `headers`: the two clients send different headers. */
const MATCH_ON: MatcherName[] = ['host', 'method', 'path', 'query', 'scheme']

/** The Node error codes of the failures under test, and the httpx exception each stands for. */
const HTTPX_FOR_CODE: Record<string, string> = {
  ECONNREFUSED: 'httpx.ConnectError',
  UND_ERR_HEADERS_TIMEOUT: 'httpx.ReadTimeout',
}

/** The same traffic on both sides: every kind of body, a refused connection and a read timeout. */
function callsFor(origin: string, refusedPort: number): PythonCall[] {
  return [
    { method: 'GET', url: `${origin}/json?a=1&b=2` },
    { method: 'GET', url: `${origin}/gzip` },
    { method: 'GET', url: `${origin}/bin` },
    // A stream: Node keeps its chunks (extra fields Python ignores).
    { method: 'GET', url: `${origin}/events` },
    { method: 'GET', url: `${origin}/empty` },
    { method: 'GET', url: `${origin}/status/500` },
    { method: 'GET', url: `${origin}/redirect` },
    { method: 'GET', url: `${origin}/counter` },
    { method: 'GET', url: `${origin}/counter` },
    { method: 'POST', url: `${origin}/echo`, body_b64: ALL_BYTES.toString('base64') },
    { method: 'GET', url: `http://127.0.0.1:${refusedPort}/refused` },
    { method: 'GET', url: `${origin}/slow?ms=3000`, timeout: 0.3 },
  ]
}

/** One call through Node's fetch (redirects not followed, like httpx), as the Python side reports it. */
async function nodeCall(call: PythonCall, dvd: LoadedDVD): Promise<PythonOutcome> {
  const init: Record<string, unknown> = {
    method: call.method,
    redirect: 'manual',
    dispatcher: dvd.dispatcher,
  }
  if (call.body_b64) init.body = Buffer.from(call.body_b64, 'base64')
  try {
    const res = await fetch(call.url, init as RequestInit)
    return { status: res.status, body_b64: Buffer.from(await res.arrayBuffer()).toString('base64') }
  } catch (error) {
    const cause = (error as Error).cause as { code?: string } | undefined
    const code = cause?.code ?? ''
    return { error: HTTPX_FOR_CODE[code] ?? `unexpected: ${String(error)} / ${code}`, message: '' }
  }
}

const withoutMessages = (outcomes: PythonOutcome[]) =>
  outcomes.map((o) => ('error' in o ? { error: o.error } : o))

pythonTest('a DVD recorded by Node replays in Python dvd-rw as Node saw it live', async (t) => {
  const server = await startServer()
  const calls = callsFor(server.origin, await closedPort())
  const dir = tempDir()
  const file = join(dir, 'node-made.dvd.json')
  const upstream = new Agent({ headersTimeout: 100 })
  const dvd = await DVDLoader.open(file, { recordMode: 'once', matchOn: MATCH_ON, upstream })
  const live: PythonOutcome[] = []
  for (const call of calls) live.push(await nodeCall(call, dvd))
  await dvd.close()
  await upstream.close()
  await server.close()
  const streamed = JSON.parse(readFileSync(file, 'utf8')).find(([request]: [{ url: string }]) =>
    request.url.endsWith('/events'),
  )
  t.true(streamed[1].chunks.lengths.length > 1, 'the stream is stored with its chunks')

  const replayed = await pythonClient(file, calls, join(dir, 'calls.json'))
  t.deepEqual(withoutMessages(replayed), withoutMessages(live))
  t.deepEqual(
    live.filter((o) => 'error' in o).map((o) => (o as { error: string }).error),
    ['httpx.ConnectError', 'httpx.ReadTimeout'],
  )
})

pythonTest(
  'a DVD recorded by Python dvd-rw replays in Node through fetch as Python saw it live',
  async (t) => {
    const server = await startServer()
    const calls = callsFor(server.origin, await closedPort())
    const dir = tempDir()
    const file = join(dir, 'python-made.dvd.json')
    const live = await pythonClient(file, calls, join(dir, 'calls.json'))
    const hits = server.hits()
    await server.close()

    const dvd = await DVDLoader.open(file, { recordMode: 'none', matchOn: MATCH_ON })
    const replayed: PythonOutcome[] = []
    for (const call of calls) replayed.push(await nodeCall(call, dvd))
    t.deepEqual(withoutMessages(replayed), withoutMessages(live))
    t.deepEqual(
      live.filter((o) => 'error' in o).map((o) => (o as { error: string }).error),
      ['httpx.ConnectError', 'httpx.ReadTimeout'],
    )
    t.is(hits, calls.length - 1) // every call but the refused one reached the server while Python recorded
    t.true(dvd.allPlayed)
    await dvd.close()
  },
)

pythonTest(
  'the schema validator refuses only files Python dvd-rw refuses too, and accepts what it loads',
  async (t) => {
    const dir = tempDir()
    const docs: unknown[] = [ACCEPTED_BY_PYTHON, ...REFUSED_BY_PYTHON.map(([, doc]) => doc)]
    const files = docs.map((doc, i) => {
      const file = join(dir, `sample-${i}.dvd.json`)
      writeFileSync(file, JSON.stringify(doc))
      return file
    })
    t.deepEqual(await pythonLoads(files), [true, ...REFUSED_BY_PYTHON.map(() => false)])
  },
)
