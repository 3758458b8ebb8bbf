/**
 * `dvd-convert import`: files made by the real tools (test/fixtures/importers, each with the
 * script that made it and what the client saw live) become DVDs that replay through fetch, with
 * no server running, byte for byte as the client saw them when they were recorded.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { run } from '../lib/cli.js'
import { DVDLoader, type DVDResponse } from '../lib/index.js'
import { repoRoot } from './helpers/python.js'
import { tempDir } from './helpers/tmp.js'

const DIR = join(repoRoot(), 'test', 'fixtures', 'importers')
const pollyDir = join(DIR, 'polly', readdirSync(join(DIR, 'polly'))[0]!)

interface Seen {
  name: string
  url: string
  init: RequestInit | null
  status: number
  contentType: string | null
  body: string
}

const TOOLS: [from: string, fixture: string, expected: string][] = [
  ['nock', join(DIR, 'nock-back.json'), 'nock'],
  ['polly', join(pollyDir, 'recording.har'), 'polly'],
  ['undici-snapshot', join(DIR, 'undici-snapshot.json'), 'undici-snapshot'],
  ['vcrpy', join(DIR, 'vcrpy.yaml'), 'vcrpy'],
]

async function cli(...argv: string[]) {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) })
  return { code, stdout, stderr }
}

async function imported(from: string, fixture: string, ext = 'dvd.json') {
  const out = join(tempDir(), `imported.${ext}`)
  const result = await cli('import', '--from', from, fixture, out)
  if (result.code !== 0) throw new Error(result.stderr)
  return { out, result }
}

function expected(name: string): Seen[] {
  return (JSON.parse(readFileSync(join(DIR, `${name}.expected.json`), 'utf8')) as { calls: Seen[] }).calls
}

for (const [from, fixture, name] of TOOLS) {
  for (const ext of ['dvd.json', 'har', 'dvd.lz4']) {
    test(`a ${from} recording imported into .${ext} replays every call as the client saw it live`, async (t) => {
      const { out } = await imported(from, fixture, ext)
      const dvd = await DVDLoader.open(out, { recordMode: 'none' })
      for (const call of expected(name)) {
        const res = await dvd.fetch(call.url, call.init ?? {})
        const body = Buffer.from(await res.arrayBuffer()).toString('base64')
        t.deepEqual(
          { status: res.status, contentType: res.headers.get('content-type'), body },
          { status: call.status, contentType: call.contentType, body: call.body },
          call.name,
        )
      }
      t.true(dvd.allPlayed)
      await dvd.close()
    })
  }
}

async function recordingsOf(from: string, fixture: string) {
  const { out } = await imported(from, fixture)
  const dvd = await DVDLoader.open(out, { recordMode: 'none', onWarning: () => {} })
  const all = Array.from({ length: dvd.count }, (_, i) => dvd.dvd.get(i))
  await dvd.close()
  return all
}

const pathOf = (url: string) => new URL(url).pathname

test('nock: the gzip body nock kept as hex chunks is wire bytes fetch decodes, with a true content-length', async (t) => {
  const recordings = await recordingsOf('nock', join(DIR, 'nock-back.json'))
  const gzip = recordings.find((r) => pathOf(r.request.url) === '/gzip')!.outcome as DVDResponse
  t.deepEqual(Buffer.from(gzip.body!).subarray(0, 2), Buffer.from([0x1f, 0x8b]))
  t.falsy(gzip.bodyDecoded)
  const json = recordings.find((r) => pathOf(r.request.url) === '/json')!.outcome as DVDResponse
  const length = json.headers.find(([k]) => k === 'content-length')?.[1]
  t.is(length, String(json.body!.length))
})

test('polly: a body Polly stored decoded replays without its content-encoding header', async (t) => {
  const { out } = await imported('polly', join(pollyDir, 'recording.har'))
  const dvd = await DVDLoader.open(out, { recordMode: 'none', onWarning: () => {} })
  const call = expected('polly').find((c) => c.name === 'gzip')!
  const res = await dvd.fetch(call.url)
  t.is(res.headers.get('content-encoding'), null)
  t.is(Buffer.from(await res.arrayBuffer()).toString('base64'), call.body)
  await dvd.close()
})

test('polly: entries of one request replay in _order, wherever they are in the file', async (t) => {
  const har = JSON.parse(readFileSync(join(pollyDir, 'recording.har'), 'utf8'))
  const entries = har.log.entries as { _order: number; response: { content: { text: string } } }[]
  const counters = entries.filter((e) => e.response.content.text?.startsWith('call '))
  t.deepEqual(
    counters.map((e) => e._order),
    [0, 1],
  )
  // The same file with the two answers swapped in place: `_order` still decides.
  const [a, b] = [entries.indexOf(counters[0]!), entries.indexOf(counters[1]!)]
  ;[entries[a], entries[b]] = [entries[b]!, entries[a]!]
  const swapped = join(tempDir(), 'recording.har')
  writeFileSync(swapped, JSON.stringify(har))
  const recordings = await recordingsOf('polly', swapped)
  const bodies = recordings
    .filter((r) => pathOf(r.request.url) === '/counter')
    .map((r) => Buffer.from((r.outcome as DVDResponse).body!).toString())
  t.deepEqual(bodies, ['call 1', 'call 2'])
})

test('undici-snapshot: repeated responses become consecutive recordings and redirects stay hop by hop', async (t) => {
  const recordings = await recordingsOf('undici-snapshot', join(DIR, 'undici-snapshot.json'))
  const paths = recordings.map((r) => pathOf(r.request.url))
  const first = paths.indexOf('/counter')
  t.is(paths[first + 1], '/counter')
  t.deepEqual(
    recordings.slice(first, first + 2).map((r) => Buffer.from((r.outcome as DVDResponse).body!).toString()),
    ['call 1', 'call 2'],
  )
  t.deepEqual(paths.filter((p) => p.startsWith('/redirect') || p === '/json').slice(-3), [
    '/redirect',
    '/redirect-2',
    '/json',
  ])
  const gzip = recordings.find((r) => pathOf(r.request.url) === '/gzip')!
  t.deepEqual(Buffer.from((gzip.outcome as DVDResponse).body!).subarray(0, 2), Buffer.from([0x1f, 0x8b]))
  t.true(
    gzip.request.headers.some(([k]) => k === 'user-agent'),
    'every request header fetch sent',
  )
})

test('vcrpy: !!binary bodies are bytes and the reason phrase is not kept when standard', async (t) => {
  const recordings = await recordingsOf('vcrpy', join(DIR, 'vcrpy.yaml'))
  const bin = recordings.find((r) => pathOf(r.request.url) === '/bin')!.outcome as DVDResponse
  t.deepEqual(Buffer.from(bin.body!), Buffer.from(Array.from({ length: 256 }, (_, i) => i)))
  t.is(bin.statusText, undefined)
  const post = recordings.find((r) => r.request.method === 'POST')!
  t.is(Buffer.from(post.request.body!).toString(), '{"hello":"world"}')
})

test('nock: older fixtures with rawHeaders as a flat list and a JSON list body import too', async (t) => {
  const file = join(tempDir(), 'old-nock.json')
  writeFileSync(
    file,
    JSON.stringify([
      {
        scope: 'http://api.example.com:80',
        method: 'get',
        path: '/list',
        status: 200,
        response: [1, 2, 3],
        rawHeaders: ['Content-Type', 'application/json', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'],
      },
    ]),
  )
  const [recording] = await recordingsOf('nock', file)
  t.is(recording!.request.method, 'GET')
  t.is(recording!.request.url, 'http://api.example.com:80/list')
  const response = recording!.outcome as DVDResponse
  t.is(Buffer.from(response.body!).toString(), '[1,2,3]')
  t.deepEqual(response.headers, [
    ['Content-Type', 'application/json'],
    ['Set-Cookie', 'a=1'],
    ['Set-Cookie', 'b=2'],
  ])
})

const BROKEN: [from: string, ext: string, text: string, message: RegExp][] = [
  [
    'nock',
    'json',
    '[{"scope":"http://x.test","method":"GET","path":"/","status":"200"}]',
    / at \[0\]\.status: expected an HTTP status/,
  ],
  [
    'nock',
    'json',
    '[{"scope":"http://x.test","method":"GET","path":"/","response":"zz","responseIsBinary":true}]',
    / at \[0\]\.response: expected hexadecimal/,
  ],
  [
    'undici-snapshot',
    'json',
    '[{"snapshot":{"request":{"method":"GET","url":"http://x.test/","headers":{}},"responses":[{"statusCode":200,"body":"@"}]}}]',
    / at \[0\]\.snapshot\.responses\[0\]\.body: invalid base64/,
  ],
  ['vcrpy', 'yaml', 'interactions: [\n', /invalid YAML/],
  [
    'vcrpy',
    'yaml',
    'interactions:\n- request: {method: GET, uri: /relative, headers: {}}\n',
    / at interactions\[0\]\.request\.uri: not an absolute URL/,
  ],
  [
    'polly',
    'har',
    '{"log":{"entries":[{"request":{"method":"GET","url":"http://x.test/","headers":[]},"response":{"status":"ok"}}]}}',
    / at log\.entries\[0\]\.response\.status/,
  ],
]

for (const [from, ext, text, message] of BROKEN) {
  test(`a broken ${from} file fails with exit code 1, naming the file and the place: ${message.source}`, async (t) => {
    const dir = tempDir()
    const file = join(dir, `broken.${ext}`)
    writeFileSync(file, text)
    const result = await cli('import', '--from', from, file, join(dir, 'out.dvd.json'))
    t.is(result.code, 1)
    t.true(result.stderr.includes(file))
    t.regex(result.stderr, message)
    t.deepEqual(readdirSync(dir), [`broken.${ext}`])
  })
}

test('import needs a known --from and an output name that names a format', async (t) => {
  const unknown = await cli('import', '--from', 'betamax', 'in', 'out.dvd.json')
  t.is(unknown.code, 2)
  t.regex(unknown.stderr, /--from needs one of nock, polly, undici-snapshot, vcrpy/)
  const badName = await cli('import', '--from', 'nock', join(DIR, 'nock-back.json'), 'out.yaml')
  t.is(badName.code, 2)
})
