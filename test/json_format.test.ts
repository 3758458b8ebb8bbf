/**
 * The JSON DVD format: what `dvd.close()` writes is a file Python dvd-rw 0.1.6 loads (checked
 * against its pydantic schema), bodies are stored decoded the way Python stores them, the file
 * replays identically once re-read, and damaged files fail with a DVDFormatError that says where.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import test from 'ava'
import { Agent } from 'undici'
import {
  DVDFormatError,
  DVDLoader,
  type DVDResponse,
  type LoadedDVD,
  parseJson,
  serializeJson,
} from '../lib/index.js'
import {
  ACCEPTED_BY_PYTHON,
  pythonSchemaProblems,
  REFUSED_BY_PYTHON,
  SAMPLE_REQUEST,
  SAMPLE_RESPONSE,
} from './helpers/python_schema.js'
import { ALL_BYTES, closedPort, GZIP_TEXT, startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

type Json = Record<string, unknown>
type Pair = [Json, Json]

interface Call {
  url: string
  init?: RequestInit
}

/** What fetch gave: the response, or the rejection with its cause's class, code and message. */
type Seen =
  | { status: number; statusText: string; headers: [string, string][]; body: string }
  | { rejected: string; cause: { class: string; name: string; code: unknown; message: string } }

async function see(call: Call, dvd: LoadedDVD): Promise<Seen> {
  try {
    const res = await fetch(call.url, { ...call.init, dispatcher: dvd.dispatcher } as unknown as RequestInit)
    const body = Buffer.from(await res.arrayBuffer()).toString('base64')
    return { status: res.status, statusText: res.statusText, headers: [...res.headers], body }
  } catch (error) {
    const cause = (error as Error).cause as Error & { code?: unknown }
    return {
      rejected: `${(error as Error).name}: ${(error as Error).message}`,
      cause: { class: cause.constructor.name, name: cause.name, code: cause.code, message: cause.message },
    }
  }
}

const POST_BODY = Buffer.concat([Buffer.from('{"bytes":"'), ALL_BYTES, Buffer.from('"}')])

interface Sample {
  file: string
  calls: Call[]
  live: Seen[]
  text: string
  pairs: Pair[]
}

/**
 * Records gzip, binary, empty, 500, redirect, POST-with-body, a refused connection and a headers
 * timeout against a live server, and closes the DVD (which writes it).
 */
async function recordSample(): Promise<Sample> {
  const server = await startServer()
  const refusedPort = await closedPort()
  const upstream = new Agent({ headersTimeout: 100 })
  const calls: Call[] = [
    { url: `${server.origin}/gzip` },
    { url: `${server.origin}/bin` },
    { url: `${server.origin}/empty` },
    { url: `${server.origin}/status/500` },
    { url: `${server.origin}/redirect` },
    {
      url: `${server.origin}/echo`,
      init: { method: 'POST', body: POST_BODY, headers: { 'content-type': 'application/octet-stream' } },
    },
    { url: `http://127.0.0.1:${refusedPort}/refused` },
    { url: `${server.origin}/slow?ms=2000` },
  ]
  const file = join(tempDir(), 'sample.dvd.json')
  const dvd = await DVDLoader.open(file, { recordMode: 'once', upstream })
  const live: Seen[] = []
  for (const call of calls) live.push(await see(call, dvd))
  await dvd.close()
  await server.close()
  await upstream.close()
  const text = readFileSync(file, 'utf8')
  return { file, calls, live, text, pairs: JSON.parse(text) as Pair[] }
}

let sampleOnce: Promise<Sample> | undefined
/** The recorded sample, made once and only read by the tests. */
const sample = (): Promise<Sample> => {
  sampleOnce ??= recordSample()
  return sampleOnce
}

function pairFor(pairs: Pair[], path: string): Pair {
  const pair = pairs.find(([request]) => new URL(request.url as string).pathname === path)
  if (!pair) throw new Error(`no recording of ${path}`)
  return pair
}

const unprefixed = (body: unknown): Buffer => {
  if (typeof body !== 'string' || !body.startsWith('b64_byte__'))
    throw new Error(`not a body: ${String(body)}`)
  return Buffer.from(body.slice('b64_byte__'.length), 'base64')
}

// ---------------------------------------------------------------- what close() writes

test('a DVD recorded here is written in the schema Python dvd-rw 0.1.6 loads', async (t) => {
  const { text, pairs } = await sample()
  t.deepEqual(pythonSchemaProblems(text), [])
  t.is(pairs.length, 10) // the redirect chain is recorded hop by hop: 3 recordings
})

test('the live outcomes were the ones under test (responses, a refusal and a timeout)', async (t) => {
  const { live } = await sample()
  t.deepEqual(
    live.map((s) => ('status' in s ? s.status : s.cause.code)),
    [200, 200, 204, 500, 200, 200, 'ECONNREFUSED', 'UND_ERR_HEADERS_TIMEOUT'],
  )
})

test('a gzip response is stored decoded, with its content-encoding, and the wire bytes in wire_body', async (t) => {
  const [, response] = pairFor((await sample()).pairs, '/gzip')
  t.is(unprefixed(response.body).toString('utf8'), GZIP_TEXT)
  t.deepEqual(
    (response.headers as [string, string][]).find(([k]) => k.toLowerCase() === 'content-encoding'),
    ['content-encoding', 'gzip'],
  )
  const wire = unprefixed(response.wire_body)
  t.deepEqual(wire.subarray(0, 2), Buffer.from([0x1f, 0x8b]))
  t.is(gunzipSync(wire).toString('utf8'), GZIP_TEXT)
})

test('a binary body is stored byte for byte, with no wire_body', async (t) => {
  const [, response] = pairFor((await sample()).pairs, '/bin')
  t.deepEqual(unprefixed(response.body), ALL_BYTES)
  t.false('wire_body' in response)
})

test('an empty 204 response is stored with body null', async (t) => {
  const [, response] = pairFor((await sample()).pairs, '/empty')
  t.is(response.status, 204)
  t.is(response.body, null)
})

test('a POST body is stored in the request extension field "body"', async (t) => {
  const [request, response] = pairFor((await sample()).pairs, '/echo')
  t.is(request.method, 'POST')
  t.deepEqual(unprefixed(request.body), POST_BODY)
  const echoed = JSON.parse(unprefixed(response.body).toString('utf8')) as { body: string }
  t.deepEqual(Buffer.from(echoed.body, 'base64'), POST_BODY)
})

test('a refused connection is written as httpx.ConnectError, the Node error in "node"', async (t) => {
  const [, error] = pairFor((await sample()).pairs, '/refused')
  t.is(error.exc_type, 'httpx.ConnectError')
  t.is(typeof error.message, 'string')
  t.like(error.node as Json, { class: 'Error', code: 'ECONNREFUSED' })
})

test('a headers timeout is written as httpx.ReadTimeout, the undici class in "node"', async (t) => {
  const [, error] = pairFor((await sample()).pairs, '/slow')
  t.is(error.exc_type, 'httpx.ReadTimeout')
  t.like(error.node as Json, { class: 'HeadersTimeoutError', code: 'UND_ERR_HEADERS_TIMEOUT' })
})

test('a DVD written then re-read replays through fetch exactly as it went live', async (t) => {
  const { file, calls, live } = await sample()
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  const replayed: Seen[] = []
  for (const call of calls) replayed.push(await see(call, dvd))
  t.deepEqual(replayed, live)
  t.true(dvd.allPlayed)
  await dvd.close()
})

test('serializeJson with decodeCompressed drops content-encoding and fixes content-length', async (t) => {
  const { text, file } = await sample()
  const recordings = parseJson(text, file)
  const written = [...serializeJson(recordings, { decodeCompressed: true })].join('')
  t.deepEqual(pythonSchemaProblems(written), [])
  const [, response] = pairFor(JSON.parse(written) as Pair[], '/gzip')
  const headers = response.headers as [string, string][]
  t.false(headers.some(([k]) => k.toLowerCase() === 'content-encoding'))
  t.deepEqual(
    headers.filter(([k]) => k.toLowerCase() === 'content-length'),
    [['content-length', String(Buffer.byteLength(GZIP_TEXT))]],
  )
  t.is(unprefixed(response.body).toString('utf8'), GZIP_TEXT)
  t.false('wire_body' in response)
})

// ---------------------------------------------------------------- the validator itself

test('base64 bodies with non-zero padding bits decode as Python decodes them', (t) => {
  // "QR==" is not what an encoder writes for "A" ("QQ=="), but decoders accept it.
  const [recording] = parseJson(
    `[[${GOOD_REQUEST}, {"status": 200, "headers": [], "body": "b64_byte__QR=="}]]`,
    'lenient.dvd.json',
  )
  const outcome = recording?.outcome as DVDResponse
  t.deepEqual(Buffer.from(outcome.body ?? []), Buffer.from('A'))
})

test('the schema validator accepts a minimal Python dvd-rw file, extra fields included', (t) => {
  t.deepEqual(pythonSchemaProblems(JSON.stringify(ACCEPTED_BY_PYTHON)), [])
})

test('the schema validator refuses a status that is a string, which pydantic would coerce', (t) => {
  const doc = [[SAMPLE_REQUEST, { ...SAMPLE_RESPONSE, status: '200' }]]
  t.deepEqual(
    pythonSchemaProblems(JSON.stringify(doc)).map((p) => p.location),
    ['[0][1].status'],
  )
})

for (const [what, doc, location] of REFUSED_BY_PYTHON) {
  test(`the schema validator refuses ${what}`, (t) => {
    t.deepEqual(
      pythonSchemaProblems(JSON.stringify(doc)).map((p) => p.location),
      [location],
    )
  })
}

// ---------------------------------------------------------------- malformed files

const GOOD_REQUEST = JSON.stringify(SAMPLE_REQUEST)
const GOOD_RESPONSE = JSON.stringify(SAMPLE_RESPONSE)

const UNCLOSED = `[[${GOOD_REQUEST}, ${GOOD_RESPONSE}]`

const malformed: [string, string, string][] = [
  ['invalid JSON', UNCLOSED, `line 1, column ${UNCLOSED.length + 1} (the end of the file)`],
  ['a stray character', `[[${GOOD_REQUEST},\n  x${GOOD_RESPONSE}]]`, 'line 2, column 3'],
  // An object is read as HAR, which names the missing `log`.
  ['a top-level object', `{"interactions": [[${GOOD_REQUEST}, ${GOOD_RESPONSE}]]}`, 'log'],
  [
    'a status that is a string',
    `[[${GOOD_REQUEST}, {"status": "200", "headers": [], "body": null}]]`,
    '[0][1].status',
  ],
  [
    'a header pair of 3 items',
    `[[{"headers": [["a", "b", "c"]], "method": "GET", "url": "http://127.0.0.1:1/x"}, ${GOOD_RESPONSE}]]`,
    '[0][0].headers[0]',
  ],
  [
    'a request body without the b64_byte__ prefix',
    `[[{"headers": [], "method": "POST", "url": "http://127.0.0.1:1/x", "body": "aGVsbG8="}, ${GOOD_RESPONSE}]]`,
    '[0][0].body',
  ],
  [
    'a response body with invalid base64',
    `[[${GOOD_REQUEST}, {"status": 200, "headers": [], "body": "b64_byte__@@@@"}]]`,
    '[0][1].body',
  ],
  [
    'a response body in URL-safe base64',
    `[[${GOOD_REQUEST}, {"status": 200, "headers": [], "body": "b64_byte__a-_a"}]]`,
    '[0][1].body',
  ],
  [
    'a response body with padding inside the base64',
    `[[${GOOD_REQUEST}, {"status": 200, "headers": [], "body": "b64_byte__QQ==QUFB"}]]`,
    '[0][1].body',
  ],
  ['a response without body', `[[${GOOD_REQUEST}, {"status": 200, "headers": []}]]`, '[0][1].body'],
  [
    'an interaction that is not a [request, value] pair',
    `[{"request": ${GOOD_REQUEST}, "response": ${GOOD_RESPONSE}}]`,
    '[0]',
  ],
]

for (const [what, text, location] of malformed) {
  test(`a DVD with ${what} fails to open with a DVDFormatError at "${location}", file untouched`, async (t) => {
    const file = join(tempDir(), 'broken.dvd.json')
    writeFileSync(file, text)
    const before = statSync(file).mtimeMs
    const error = await t.throwsAsync(DVDLoader.open(file, { recordMode: 'once' }), {
      instanceOf: DVDFormatError,
    })
    t.is(error?.location, location)
    t.is(error?.file, file)
    t.is(error?.code, 'DVD_ERR_FORMAT')
    t.true(error?.message.startsWith(`${file}: not a readable DVD${location ? ` at ${location}` : ''}: `))
    t.is(readFileSync(file, 'utf8'), text)
    t.is(statSync(file).mtimeMs, before)
    t.deepEqual(readdirSync(dirname(file)), [basename(file)])
  })
}

// ---------------------------------------------------------------- Python exc_type → Node error

/** What `fetch`'s cause must be for each exc_type Python dvd-rw may have written (no `node` field). */
const PYTHON_TO_NODE: [excType: string, message: string, cause: Record<string, unknown>][] = [
  [
    'httpx.ConnectError',
    '[Errno 111] Connection refused',
    {
      class: 'Error',
      code: 'ECONNREFUSED',
      syscall: 'connect',
      message: 'connect ECONNREFUSED 127.0.0.1:18631',
    },
  ],
  [
    'httpx.ConnectError',
    '[Errno -2] Name or service not known',
    { class: 'Error', code: 'ENOTFOUND', syscall: 'getaddrinfo', message: 'getaddrinfo ENOTFOUND 127.0.0.1' },
  ],
  [
    'httpx.ConnectTimeout',
    'timed out',
    { class: 'ConnectTimeoutError', code: 'UND_ERR_CONNECT_TIMEOUT', syscall: undefined },
  ],
  ['httpx.ReadTimeout', 'timed out', { class: 'HeadersTimeoutError', code: 'UND_ERR_HEADERS_TIMEOUT' }],
  ['httpx.WriteTimeout', 'timed out', { class: 'HeadersTimeoutError', code: 'UND_ERR_HEADERS_TIMEOUT' }],
  ['httpx.PoolTimeout', 'timed out', { class: 'ConnectTimeoutError', code: 'UND_ERR_CONNECT_TIMEOUT' }],
  [
    'httpx.ReadError',
    '[Errno 104] Connection reset by peer',
    { class: 'Error', code: 'ECONNRESET', syscall: 'read', errno: -104, message: 'read ECONNRESET' },
  ],
  [
    'httpx.WriteError',
    '[Errno 32] Broken pipe',
    { class: 'Error', code: 'EPIPE', syscall: 'write', errno: -32, message: 'write EPIPE' },
  ],
  [
    'httpx.RemoteProtocolError',
    'Server disconnected without sending a response.',
    {
      class: 'SocketError',
      code: 'UND_ERR_SOCKET',
      message: 'Server disconnected without sending a response.',
    },
  ],
]

for (const [excType, message, expected] of PYTHON_TO_NODE) {
  test(`a Python-recorded ${excType} ("${message}") makes fetch fail with a ${expected.class} ${expected.code}`, async (t) => {
    const file = join(tempDir(), 'python-error.dvd.json')
    const request = { headers: [], method: 'GET', url: 'http://127.0.0.1:18631/x' }
    writeFileSync(file, JSON.stringify([[request, { exc_type: excType, message }]]))
    const dvd = await DVDLoader.open(file, { recordMode: 'none' })
    const error = await t.throwsAsync(
      fetch(request.url, { dispatcher: dvd.dispatcher } as unknown as RequestInit),
      { instanceOf: TypeError, message: 'fetch failed' },
    )
    const cause = error?.cause as Record<string, unknown> & Error
    const seen: Record<string, unknown> = { class: cause.constructor.name }
    for (const key of Object.keys(expected)) if (key !== 'class') seen[key] = cause[key]
    t.deepEqual(seen, expected)
    // Written again, the error keeps the exc_type Python gave it.
    const rewritten = JSON.parse([...serializeJson(dvd.dvd.recordings())].join('')) as Pair[]
    t.is(rewritten[0]?.[1].exc_type, excType)
  })
}
