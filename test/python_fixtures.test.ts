/**
 * DVDs written by the real Python dvd-rw (0.1.6, and 0.1.5's legacy body encoding) replay through
 * Node's global `fetch` with exactly what the Python client saw live. The fixtures live in
 * `shared/fixtures/python-dvd-rw`, next to the checkout; a missing directory fails these tests.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { errors as undiciErrors } from 'undici'
import { run } from '../lib/cli.js'
import { DVDLoader, type LoadedDVD, type MatcherName, UnmatchedRequestError } from '../lib/index.js'
import { pythonFixturesDir } from './helpers/python.js'
import { tempDir } from './helpers/tmp.js'

/** Python's matchers without `headers`: a Node client sends other headers than httpx did. */
const MATCH_ON: MatcherName[] = ['host', 'method', 'path', 'query', 'scheme']

const FIXTURES = ['dvd-rw-0.1.6.dvd.json', 'dvd-rw-0.1.5-legacy.dvd.json'] as const

/** One call as `dvd-rw-0.1.6.expected.json` describes it. */
interface ExpectedCall {
  method: string
  url: string
  status?: number
  body_b64?: string
  headers?: [string, string][]
  error?: string
}

/** What fetch gave for one call: a response, or a rejection and its cause. */
type Outcome =
  | { method: string; url: string; status: number; body_b64: string }
  | { method: string; url: string; rejected: { name: string; message: string }; cause: Cause }

interface Cause {
  class: string
  code: string | undefined
}

/** The Node error each httpx exception of the fixtures must come back as, in `fetch`'s `cause`. */
const NODE_CAUSE: Record<string, Cause> = {
  ConnectError: { class: 'Error', code: 'ECONNREFUSED' },
  ReadTimeout: { class: 'HeadersTimeoutError', code: 'UND_ERR_HEADERS_TIMEOUT' },
}

/** The request body httpx sent to POST /echo (`json={"x": 1}`). */
const ECHO_BODY = '{"x": 1}'

function expectedCalls(): ExpectedCall[] {
  return JSON.parse(readFileSync(join(pythonFixturesDir(), 'dvd-rw-0.1.6.expected.json'), 'utf8'))
}

function openFixture(name: string): Promise<LoadedDVD> {
  return DVDLoader.open(join(pythonFixturesDir(), name), { recordMode: 'none', matchOn: MATCH_ON })
}

/** The fixture converted to a binary DVD indexed for {@link MATCH_ON}, opened for replay. */
async function openFixtureAsBinary(t: ExecutionContext, name: string): Promise<LoadedDVD> {
  const file = join(tempDir(), name.replace(/\.dvd\.json$/, '.dvd.lz4'))
  const errors: string[] = []
  const io = { stdout() {}, stderr: (text: string) => errors.push(text) }
  const args = ['json-to-bin', join(pythonFixturesDir(), name), file, '--match-on', MATCH_ON.join(',')]
  t.is(await run(args, io), 0, errors.join(''))
  return DVDLoader.open(file, { recordMode: 'none', matchOn: MATCH_ON })
}

/** Sends one call through Node's global `fetch`, answered by `dvd`. */
function send(dvd: LoadedDVD, method: string, url: string): Promise<Response> {
  const init: Record<string, unknown> = { method, redirect: 'manual', dispatcher: dvd.dispatcher }
  if (method === 'POST') {
    init.body = ECHO_BODY
    init.headers = { 'content-type': 'application/json' }
  }
  return fetch(url, init as RequestInit)
}

async function outcomeOf(dvd: LoadedDVD, method: string, url: string): Promise<Outcome> {
  try {
    const res = await send(dvd, method, url)
    return {
      method,
      url,
      status: res.status,
      body_b64: Buffer.from(await res.arrayBuffer()).toString('base64'),
    }
  } catch (error) {
    const cause = (error as Error).cause as Error & { code?: string }
    return {
      method,
      url,
      rejected: { name: (error as Error).constructor.name, message: (error as Error).message },
      cause: { class: cause?.constructor.name, code: cause?.code },
    }
  }
}

function expectedOutcome(call: ExpectedCall): Outcome {
  const { method, url } = call
  if (call.error !== undefined) {
    const cause = NODE_CAUSE[call.error]
    if (!cause) throw new Error(`no Node mapping known for httpx.${call.error}`)
    return { method, url, rejected: { name: 'TypeError', message: 'fetch failed' }, cause }
  }
  return { method, url, status: call.status!, body_b64: call.body_b64! }
}

for (const [fixture, binary] of FIXTURES.flatMap((f) => [[f, false] as const, [f, true] as const])) {
  const as = binary ? ', converted to a binary DVD,' : ''
  test(`${fixture}${as} replays every call through fetch with what Python saw live, in order`, async (t) => {
    const calls = expectedCalls()
    const dvd = binary ? await openFixtureAsBinary(t, fixture) : await openFixture(fixture)
    const replayed: Outcome[] = []
    for (const call of calls) replayed.push(await outcomeOf(dvd, call.method, call.url))
    t.deepEqual(replayed, calls.map(expectedOutcome))
    t.true(dvd.allPlayed)
    t.is(dvd.playCount, calls.length)
    await dvd.close()
  })
}

test('a gzip body Python stored decoded reaches fetch decoded, without content-encoding', async (t) => {
  const expected = expectedCalls().find((c) => c.url.endsWith('/gzip'))!
  t.deepEqual(
    expected.headers?.find(([k]) => k === 'content-encoding'),
    ['content-encoding', 'gzip'],
  )
  const dvd = await openFixture('dvd-rw-0.1.6.dvd.json')
  const res = await send(dvd, 'GET', expected.url)
  const body = Buffer.from(await res.arrayBuffer())
  t.is(body.toString('base64'), expected.body_b64!)
  t.true(JSON.parse(body.toString('utf8')).zipped)
  t.is(res.headers.get('content-encoding'), null)
  t.is(res.headers.get('content-length'), String(body.length))
})

test('a recorded httpx.ConnectError makes fetch fail with an ECONNREFUSED cause', async (t) => {
  const dvd = await openFixture('dvd-rw-0.1.6.dvd.json')
  const error = await t.throwsAsync(send(dvd, 'GET', 'http://127.0.0.1:18632/refused'), {
    instanceOf: TypeError,
    message: 'fetch failed',
  })
  const cause = error?.cause as NodeJS.ErrnoException
  t.true(cause instanceof Error)
  t.is(cause.code, 'ECONNREFUSED')
  t.is(cause.syscall, 'connect')
  t.is(cause.message, 'connect ECONNREFUSED 127.0.0.1:18632')
})

test('a recorded httpx.ReadTimeout makes fetch fail with a HeadersTimeoutError cause', async (t) => {
  const dvd = await openFixture('dvd-rw-0.1.6.dvd.json')
  const error = await t.throwsAsync(send(dvd, 'GET', 'http://127.0.0.1:18631/slow'), {
    instanceOf: TypeError,
    message: 'fetch failed',
  })
  const cause = error?.cause as { code?: string } | undefined
  t.true(cause instanceof undiciErrors.HeadersTimeoutError)
  t.is(cause?.code, 'UND_ERR_HEADERS_TIMEOUT')
})

test('two recordings of /counter replay in recording order: "call 1" then "call 2"', async (t) => {
  const dvd = await openFixture('dvd-rw-0.1.6.dvd.json')
  const first = await (await send(dvd, 'GET', 'http://127.0.0.1:18631/counter')).text()
  const second = await (await send(dvd, 'GET', 'http://127.0.0.1:18631/counter')).text()
  t.deepEqual([first, second], ['call 1', 'call 2'])
})

test('the Set-Cookie pair httpx merged replays as the one header Python stored', async (t) => {
  const dvd = await openFixture('dvd-rw-0.1.6.dvd.json')
  const res = await send(dvd, 'GET', 'http://127.0.0.1:18631/multi-header')
  t.deepEqual(res.headers.getSetCookie(), ['a=1, b=2'])
  t.is(await res.text(), 'ok')
})

test('each recording plays once: a third /counter fails with UnmatchedRequestError', async (t) => {
  const dvd = await openFixture('dvd-rw-0.1.6.dvd.json')
  await (await send(dvd, 'GET', 'http://127.0.0.1:18631/counter')).text()
  await (await send(dvd, 'GET', 'http://127.0.0.1:18631/counter')).text()
  const error = await t.throwsAsync(send(dvd, 'GET', 'http://127.0.0.1:18631/counter'), {
    instanceOf: TypeError,
    message: 'fetch failed',
  })
  const cause = error?.cause as UnmatchedRequestError | undefined
  t.true(cause instanceof UnmatchedRequestError)
  t.is(cause?.code, 'DVD_ERR_UNMATCHED')
  t.regex(cause?.message ?? '', /already played/)
})
