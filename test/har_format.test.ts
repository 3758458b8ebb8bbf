/**
 * The HAR format: what recording into `*.har` writes is HAR 1.2 field by field and replays as
 * fetch saw it live; HAR files from browsers and Playwright replay; nothing is lost from DVD to
 * HAR and back; a malformed or hostile HAR fails with a DVDFormatError that says where.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import test from 'ava'
import { run } from '../lib/cli.js'
import { DVDFormatError, DVDLoader, type LoadedDVD, type Recording } from '../lib/index.js'
import { harProblems } from './helpers/har_schema.js'
import { ALL_BYTES, closedPort, GZIP_TEXT, startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

type Obj = Record<string, unknown>

/** The fields of a HAR entry these tests look at. */
interface HarEntry {
  startedDateTime: string
  request: { method: string; url: string; bodySize: number; postData?: Obj; headers: Obj[] }
  response: {
    status: number | string
    redirectURL: string
    bodySize: number
    content: { size: number; text?: string; encoding?: string; _dvdWireBody?: string }
  }
  _dvdError?: { node: { code?: string } }
}

async function cli(...argv: string[]) {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) })
  return { code, stdout, stderr }
}

async function see(url: string, dvd: LoadedDVD, init: RequestInit = {}) {
  const res = await dvd.fetch(url, init)
  const body = Buffer.from(await res.arrayBuffer())
  return {
    status: res.status,
    statusText: res.statusText,
    headers: [...res.headers],
    body: body.toString('base64'),
  }
}

const CALLS: [string, RequestInit?][] = [
  ['/json?a=1&b=2'],
  ['/gzip'],
  ['/bin'],
  ['/redirect'],
  ['/empty'],
  ['/reason'],
  ['/echo', { method: 'POST', body: ALL_BYTES, headers: { 'content-type': 'application/octet-stream' } }],
  ['/echo', { method: 'POST', body: '{"text":true}', headers: { 'content-type': 'application/json' } }],
]

/** Records CALLS into `file`, then replays them with the server stopped. */
async function recordAndReplay(file: string) {
  const server = await startServer()
  const rec = await DVDLoader.open(file, { recordMode: 'once' })
  const live = []
  for (const [path, init] of CALLS) live.push(await see(server.origin + path, rec, init))
  await rec.close()
  await server.close()
  const play = await DVDLoader.open(file, { recordMode: 'none' })
  const replayed = []
  for (const [path, init] of CALLS) replayed.push(await see(server.origin + path, play, init))
  await play.close()
  return { live, replayed, origin: server.origin }
}

const entries = (file: string): HarEntry[] => JSON.parse(readFileSync(file, 'utf8')).log.entries

test('recording into a .har file writes HAR 1.2, every required field present', async (t) => {
  const file = join(tempDir(), 'rec.har')
  await recordAndReplay(file)
  const har = JSON.parse(readFileSync(file, 'utf8'))
  t.deepEqual(harProblems(har), [])
  t.is(har.log.version, '1.2')
  t.is(har.log.creator.name, 'dvd-rw')
})

test('a recorded .har file replays exactly as fetch saw it live', async (t) => {
  const { live, replayed } = await recordAndReplay(join(tempDir(), 'rec.har'))
  t.deepEqual(replayed, live)
})

test('HAR entries have strictly increasing startedDateTime, one per redirect hop', async (t) => {
  const file = join(tempDir(), 'rec.har')
  const { origin } = await recordAndReplay(file)
  const list = entries(file)
  const times = list.map((e) => Date.parse(e.startedDateTime))
  for (let i = 1; i < times.length; i++) t.true(times[i]! > times[i - 1]!)
  const hops = list.filter((e) => /\/redirect/.test(e.request.url) || /from=redirect/.test(e.request.url))
  t.deepEqual(
    hops.map((e) => [e.response.status, e.response.redirectURL]),
    [
      [302, `${origin}/redirect-2`],
      [301, `${origin}/json?from=redirect`],
      [200, ''],
    ],
  )
})

test('HAR keeps decoded text in content.text and the compressed wire bytes in _dvdWireBody', async (t) => {
  const file = join(tempDir(), 'rec.har')
  await recordAndReplay(file)
  const gzip = entries(file).find((e) => e.request.url.endsWith('/gzip'))!
  t.is(gzip.response.content.text, GZIP_TEXT)
  t.is(gzip.response.content.encoding, undefined)
  t.is(gzip.response.content.size, Buffer.byteLength(GZIP_TEXT))
  const wire = Buffer.from(gzip.response.content._dvdWireBody!, 'base64')
  t.is(gzip.response.bodySize, wire.length)
  t.deepEqual(wire.subarray(0, 2), Buffer.from([0x1f, 0x8b]))
})

test('decodeCompressed keeps only the decoded body in a HAR DVD, which replays it', async (t) => {
  const server = await startServer()
  const file = join(tempDir(), 'decoded.har')
  const rec = await DVDLoader.open(file, { recordMode: 'once', decodeCompressed: true })
  await (await rec.fetch(`${server.origin}/gzip`)).text()
  await rec.close()
  await server.close()
  const [entry] = entries(file)
  t.is(entry!.response.content.text, GZIP_TEXT)
  t.is(entry!.response.content._dvdWireBody, undefined)
  t.false(JSON.stringify(entry!.response).includes('content-encoding'))
  const play = await DVDLoader.open(file, { recordMode: 'none' })
  t.is(await (await play.fetch(`${server.origin}/gzip`)).text(), GZIP_TEXT)
  await play.close()
})

test('HAR stores a binary response body and a binary request body as base64', async (t) => {
  const file = join(tempDir(), 'rec.har')
  await recordAndReplay(file)
  const list = entries(file)
  const bin = list.find((e) => e.request.url.endsWith('/bin'))!
  t.is(bin.response.content.encoding, 'base64')
  t.deepEqual(Buffer.from(bin.response.content.text!, 'base64'), ALL_BYTES)
  const [binaryPost, textPost] = list.filter((e) => e.request.method === 'POST')
  t.deepEqual(binaryPost!.request.postData, {
    mimeType: 'application/octet-stream',
    text: ALL_BYTES.toString('base64'),
    encoding: 'base64',
  })
  t.deepEqual(textPost!.request.postData, { mimeType: 'application/json', text: '{"text":true}' })
  t.is(binaryPost!.request.bodySize, 256)
})

test('a recorded network error is an entry with status 0 and _dvdError, and replays', async (t) => {
  const file = join(tempDir(), 'errors.har')
  const url = `http://127.0.0.1:${await closedPort()}/nothing`
  const rec = await DVDLoader.open(file, { recordMode: 'once' })
  const live = await rec.fetch(url).catch((e: Error) => e)
  await rec.close()
  const [entry] = entries(file)
  t.is(entry!.response.status, 0)
  t.is(entry!._dvdError?.node.code, 'ECONNREFUSED')
  t.deepEqual(harProblems(JSON.parse(readFileSync(file, 'utf8'))), [])
  const play = await DVDLoader.open(file, { recordMode: 'none' })
  const replayed = await play.fetch(url).catch((e: Error) => e)
  t.is((replayed as Error).message, (live as Error).message)
  t.is(((replayed as Error).cause as { code?: string }).code, 'ECONNREFUSED')
  await play.close()
})

function allRecordings(dvd: LoadedDVD): Recording[] {
  return Array.from({ length: dvd.count }, (_, i) => dvd.dvd.get(i))
}

test('DVD → HAR → DVD loses nothing: bodies, wire bytes, reason phrases, errors', async (t) => {
  const dir = tempDir()
  const json = join(dir, 'a.dvd.json')
  await recordAndReplay(json)
  const rec = await DVDLoader.open(json, { recordMode: 'new_episodes', onWarning: () => {} })
  await rec.fetch(`http://127.0.0.1:${await closedPort()}/refused`).catch(() => {})
  await rec.close()
  t.is((await cli('convert', json, join(dir, 'b.har'))).code, 0)
  t.is((await cli('convert', join(dir, 'b.har'), join(dir, 'c.dvd.json'))).code, 0)
  const before = await DVDLoader.open(json, { recordMode: 'none' })
  const after = await DVDLoader.open(join(dir, 'c.dvd.json'), { recordMode: 'none' })
  t.true(before.count > CALLS.length)
  t.deepEqual(
    allRecordings(after).map((r) => JSON.stringify(r)),
    allRecordings(before).map((r) => JSON.stringify(r)),
  )
})

test('.har → .dvd.lz4 → .har keeps every entry’s method, URL, status and body bytes', async (t) => {
  const dir = tempDir()
  const har = join(dir, 'a.har')
  await recordAndReplay(har)
  t.is((await cli('convert', har, join(dir, 'b.dvd.lz4'))).code, 0)
  t.is((await cli('convert', join(dir, 'b.dvd.lz4'), join(dir, 'c.har'))).code, 0)
  const summary = (file: string) =>
    entries(file).map((e) => [e.request.method, e.request.url, e.response.status, e.response.content])
  t.deepEqual(summary(join(dir, 'c.har')), summary(har))
  t.is(readFileSync(join(dir, 'c.har'), 'utf8'), readFileSync(har, 'utf8'))
})

/** A HAR document with these entries, as browsers write it. */
function harOf(list: unknown[]): string {
  return JSON.stringify({
    log: { version: '1.2', creator: { name: 'WebInspector', version: '537.36' }, pages: [], entries: list },
  })
}

function browserEntry(url: string, response: Obj, extra: Obj = {}): HarEntry {
  return {
    startedDateTime: '2026-01-01T00:00:00.000Z',
    time: 12.5,
    request: {
      method: 'GET',
      url,
      httpVersion: 'http/2.0',
      headers: [
        { name: ':authority', value: 'api.example.com' },
        { name: 'accept', value: '*/*' },
      ],
      queryString: [],
      cookies: [],
      headersSize: -1,
      bodySize: 0,
    },
    response: {
      status: 200,
      statusText: '',
      httpVersion: 'http/2.0',
      headers: [],
      cookies: [],
      content: { size: 0, mimeType: 'text/plain' },
      redirectURL: '',
      headersSize: -1,
      bodySize: -1,
      ...response,
    },
    cache: {},
    timings: { send: 0, wait: 10, receive: 2.5 },
    ...extra,
  } as HarEntry
}

test('a browser HAR with a decoded gzip body replays it without content-encoding', async (t) => {
  const file = join(tempDir(), 'chrome.har')
  const text = JSON.stringify({ hello: 'world', pad: 'x'.repeat(200) })
  writeFileSync(
    file,
    harOf([
      browserEntry('https://api.example.com/data', {
        headers: [
          { name: 'content-type', value: 'application/json' },
          { name: 'content-encoding', value: 'gzip' },
          { name: 'content-length', value: String(gzipSync(text).length) },
        ],
        content: { size: text.length, mimeType: 'application/json', text },
      }),
    ]),
  )
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  t.is(dvd.format, 'har')
  const res = await dvd.fetch('https://api.example.com/data')
  t.is(res.headers.get('content-encoding'), null)
  t.is(await res.text(), text)
  t.deepEqual(
    dvd.dvd.get(0).request.headers.map(([k]) => k),
    ['accept'],
  )
  await dvd.close()
})

test('WebSocket and aborted entries are skipped with one warning that counts them', async (t) => {
  const file = join(tempDir(), 'mixed.har')
  writeFileSync(
    file,
    harOf([
      browserEntry(
        'wss://api.example.com/socket',
        { status: 101 },
        { _resourceType: 'websocket', _webSocketMessages: [] },
      ),
      browserEntry('https://api.example.com/ok', {
        content: { size: 2, mimeType: 'text/plain', text: 'ok' },
      }),
      browserEntry('https://api.example.com/cancelled', { status: 0 }, { _error: 'net::ERR_ABORTED' }),
      browserEntry('https://api.example.com/blocked', { status: 0 }),
    ]),
  )
  const warnings: string[] = []
  const dvd = await DVDLoader.open(file, { recordMode: 'none', onWarning: (w) => warnings.push(w) })
  t.is(dvd.count, 1)
  t.is(warnings.length, 1)
  t.regex(warnings[0]!, /skipped 3 HAR entries.*1 WebSocket, 2 aborted or blocked/)
  t.is(await (await dvd.fetch('https://api.example.com/ok')).text(), 'ok')
  await dvd.close()
})

test('dvd-convert convert prints the skipped-entries warning once and converts the rest', async (t) => {
  const dir = tempDir()
  writeFileSync(
    join(dir, 'mixed.har'),
    harOf([
      browserEntry('https://api.example.com/ok', {
        content: { size: 2, mimeType: 'text/plain', text: 'ok' },
      }),
      browserEntry('https://api.example.com/gone', { status: 0 }),
    ]),
  )
  const result = await cli('convert', join(dir, 'mixed.har'), join(dir, 'out.dvd.json'))
  t.is(result.code, 0)
  t.regex(result.stdout, /out\.dvd\.json: 1 recording\n/)
  t.is(result.stderr.match(/warning: .*skipped 1 HAR entry a DVD cannot replay: 1 aborted/g)?.length, 1)
})

test('a request body HAR gives only as form params is rebuilt as the urlencoded body it was', async (t) => {
  const file = join(tempDir(), 'firefox.har')
  const entry = browserEntry('https://api.example.com/form', {
    content: { size: 2, mimeType: 'text/plain', text: 'ok' },
  })
  Object.assign(entry.request, {
    method: 'POST',
    postData: {
      mimeType: 'application/x-www-form-urlencoded',
      params: [{ name: 'q', value: 'a b' }, { name: 'empty' }],
    },
  })
  writeFileSync(file, harOf([entry]))
  const dvd = await DVDLoader.open(file, { recordMode: 'none', onWarning: () => {} })
  t.is(Buffer.from(dvd.dvd.get(0).request.body!).toString(), 'q=a+b&empty=')
  await dvd.close()
})

test('a Playwright HAR with bodies attached in _file replays them', async (t) => {
  const dir = tempDir()
  writeFileSync(join(dir, 'abc123.bin'), ALL_BYTES)
  const file = join(dir, 'playwright.har')
  writeFileSync(
    file,
    harOf([
      browserEntry('https://api.example.com/blob', {
        content: { size: 256, mimeType: 'application/octet-stream', _file: 'abc123.bin' },
      }),
    ]),
  )
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  t.deepEqual(Buffer.from(await (await dvd.fetch('https://api.example.com/blob')).arrayBuffer()), ALL_BYTES)
  await dvd.close()
})

test('a HAR naming an attached body outside its directory is refused', async (t) => {
  const file = join(tempDir(), 'hostile.har')
  writeFileSync(
    file,
    harOf([
      browserEntry('https://x.test/', {
        content: { size: 1, mimeType: 'text/plain', _file: '../../etc/passwd' },
      }),
    ]),
  )
  const error = await t.throwsAsync(DVDLoader.open(file, { recordMode: 'none' }), {
    instanceOf: DVDFormatError,
  })
  t.is(error?.location, 'log.entries[0].response.content._file')
})

test('a malformed HAR names the file and the place inside it', async (t) => {
  const file = join(tempDir(), 'bad.har')
  const list = Array.from({ length: 13 }, (_, i) => browserEntry(`https://x.test/${i}`, {}))
  list[12]!.response.status = '200'
  writeFileSync(file, harOf(list))
  const error = await t.throwsAsync(DVDLoader.open(file, { recordMode: 'none' }), {
    instanceOf: DVDFormatError,
  })
  t.is(error?.file, file)
  t.is(error?.location, 'log.entries[12].response.status')
  t.regex(
    error!.message,
    /bad\.har: not a readable DVD at log\.entries\[12\]\.response\.status: expected an HTTP status/,
  )
})

const MALFORMED: [string, string, string][] = [
  ['truncated JSON', '{"log": {"entries": [', ''],
  ['a bad escape in a key', '{"lo\\xg": {"entries": []}}', ''],
  ['no log', '{"entries": []}', 'log'],
  ['entries not a list', '{"log": {"entries": {}}}', 'log.entries'],
  ['an entry that is not an object', '{"log": {"entries": [1]}}', 'log.entries[0]'],
  [
    'bad base64',
    harOf([
      browserEntry('https://x.test/', {
        content: { size: 1, mimeType: 'x', text: '@@', encoding: 'base64' },
      }),
    ]),
    'log.entries[0].response.content.text',
  ],
  [
    'a relative URL',
    harOf([{ ...browserEntry('https://x.test/', {}), request: { method: 'GET', url: '/x', headers: [] } }]),
    'log.entries[0].request.url',
  ],
  [
    'headers not a list',
    harOf([browserEntry('https://x.test/', { headers: 'a: b' })]),
    'log.entries[0].response.headers',
  ],
]

for (const [what, text, location] of MALFORMED) {
  test(`a HAR with ${what} is a DVDFormatError at "${location}"`, async (t) => {
    const file = join(tempDir(), 'bad.har')
    writeFileSync(file, text)
    const error = await t.throwsAsync(DVDLoader.open(file, { recordMode: 'none' }), {
      instanceOf: DVDFormatError,
    })
    t.is(error?.location, location)
  })
}

test('the format is told by content: a HAR named .json opens as HAR, a JSON DVD named .har as JSON', async (t) => {
  const dir = tempDir()
  writeFileSync(join(dir, 'really-har.json'), `\uFEFF  \n${harOf([browserEntry('https://x.test/', {})])}`)
  writeFileSync(join(dir, 'really-json.har'), '[]')
  const har = await DVDLoader.open(join(dir, 'really-har.json'), { recordMode: 'none', onWarning: () => {} })
  const json = await DVDLoader.open(join(dir, 'really-json.har'), { recordMode: 'none' })
  t.is(har.format, 'har')
  t.is(har.count, 1)
  t.is(json.format, 'json')
  await har.close()
  await json.close()
})

test('dvd-convert convert refuses an output name that names no format', async (t) => {
  const dir = tempDir()
  writeFileSync(join(dir, 'in.har'), harOf([]))
  const result = await cli('convert', join(dir, 'in.har'), join(dir, 'out.txt'))
  t.is(result.code, 2)
  t.regex(result.stderr, /end it in \.har, \.dvd\.json or \.dvd\.lz4/)
})
