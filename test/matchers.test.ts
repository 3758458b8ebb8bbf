import test from 'ava'
import { canonicalQuery, DEFAULT_MATCH_ON, ParsedRequest, requestKey } from '../lib/index.js'
import { keyOf, type MatcherName } from '../lib/matchers.js'
import { prng } from './helpers/prng.js'

const key = (
  url: string,
  matchOn = DEFAULT_MATCH_ON,
  extra: Partial<{ method: string; headers: [string, string][] }> = {},
) =>
  requestKey(new ParsedRequest({ method: extra.method ?? 'GET', url, headers: extra.headers ?? [] }), matchOn)

test('query matching ignores the order of names', (t) => {
  t.is(canonicalQuery('?a=1&b=2'), canonicalQuery('?b=2&a=1'))
})

test('query matching keeps the order of repeated values', (t) => {
  t.not(canonicalQuery('?a=1&a=2'), canonicalQuery('?a=2&a=1'))
})

test('query matching keeps blank values', (t) => {
  t.not(canonicalQuery('?a=&b=1'), canonicalQuery('?b=1'))
  t.not(canonicalQuery('?a'), canonicalQuery(''))
})

test('the canonical query is the same text the index keys of existing files were built from', (t) => {
  // Keys of saved DVDs hash this exact text: name-sorted [name, [values…]] pairs as JSON, with
  // URLSearchParams' parsing and decoding. Any query, simple or not, must give it unchanged.
  const spec = (search: string) => {
    const byName = new Map<string, string[]>()
    for (const [name, value] of new URLSearchParams(search))
      byName.set(name, [...(byName.get(name) ?? []), value])
    return JSON.stringify([...byName.keys()].sort().map((name) => [name, byName.get(name)]))
  }
  const pieces = ['', ...'a b B id page _ = & && ? %20 + %zz é " \\ 1'.split(' ')]
  let seed = 12345
  const next = () => {
    seed = (seed * 1103515245 + 12345) >>> 0
    return seed >>> 8
  }
  for (let i = 0; i < 5000; i++) {
    let search = next() % 2 ? '?' : ''
    for (let k = next() % 12; k > 0; k--) search += pieces[next() % pieces.length]
    t.is(canonicalQuery(search), spec(search), search)
  }
  const many = `?${Array.from({ length: 40 }, (_, k) => `n${39 - k}=${k}`).join('&')}`
  t.is(canonicalQuery(many), spec(many))
  t.is(canonicalQuery('?id=7&page=2&id=8'), '[["id",["7","8"]],["page",["2"]]]')
})

test('the default port is the same as no port', (t) => {
  t.is(key('http://example.com/x'), key('http://example.com:80/x'))
  t.not(key('http://example.com/x'), key('http://example.com:8080/x'))
  t.is(key('https://example.com/x'), key('https://example.com:443/x'))
})

test('host and scheme compare case-insensitively, path case-sensitively', (t) => {
  t.is(key('HTTP://EXAMPLE.com/x'), key('http://example.com/x'))
  t.not(key('http://example.com/X'), key('http://example.com/x'))
})

test('the method matcher compares upper-cased methods', (t) => {
  t.is(key('http://e.com/', DEFAULT_MATCH_ON, { method: 'get' }), key('http://e.com/'))
})

test('matchers not in matchOn do not change the key', (t) => {
  t.is(key('http://a.com/x?q=1', ['path']), key('https://b.com:9/x?q=2', ['path']))
})

test('the headers matcher compares every header in order, names case-insensitively', (t) => {
  const on = ['headers'] as const
  t.is(
    key('http://e.com/', on, { headers: [['Accept', 'x']] }),
    key('http://e.com/', on, { headers: [['accept', 'x']] }),
  )
  t.not(
    key('http://e.com/', on, {
      headers: [
        ['a', '1'],
        ['b', '2'],
      ],
    }),
    key('http://e.com/', on, {
      headers: [
        ['b', '2'],
        ['a', '1'],
      ],
    }),
  )
})

test('keys computed without parsing the URL are the same text as requestKey gives', (t) => {
  // keyOf spells the key of simple URLs by hand; for any URL and matchOn it must give exactly
  // requestKey's text (or fail the same way), or lookups in existing files would miss.
  const { int } = prng(777)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
  const schemes = ['https', 'http', 'HTTP', 'ftp', 'wss']
  const hosts = [
    'api.example.com',
    'API.example.com',
    'localhost',
    '127.0.0.1',
    '127.1',
    '0x7f.0.0.1',
    '010.0.0.1',
    '256.1.1.1',
    'a.123',
    'xn--nxasmq6b.com',
    'example.com.',
    'a..b',
    '-x.example',
    'h_st',
    '[::1]',
    'user@host',
  ]
  const ports = ['', ':443', ':80', ':0443', ':8080', ':65535', ':65536', ':0', ':']
  const segments = [
    'v1',
    'items',
    '3.json',
    '.',
    '..',
    '%2e',
    '.hidden',
    'a b',
    "it's",
    'é',
    '~x',
    'a%20b',
    '',
    'A',
  ]
  // Queries of characters that are never percent-encoded, some starting with a second `?`.
  const simpleQueries = [
    '',
    '?',
    '?id=1&page=2',
    '?b=2&a=1',
    '?a=1&a=2',
    '?a',
    '?a=&b',
    '?a=b=c',
    '??x=1',
    '??',
    '?a=1?b',
  ]
  const queries = [...simpleQueries, "?q='x'", '?q=a b', '?x=%41', '?x=+', '?é=1', '?a=1#frag']
  const matchOns: MatcherName[][] = [
    [...DEFAULT_MATCH_ON],
    ['method', 'path'],
    ['host', 'query'],
    ['port', 'scheme'],
    ['method', 'scheme', 'host', 'port', 'path', 'query', 'headers'],
    ['body', 'path'],
  ]
  // Half the sample from the pieces of simple URLs only, so the hand-spelled path is well covered.
  const simplePieces = {
    schemes: ['https', 'http'],
    hosts: ['api.example.com', 'localhost', '127.0.0.1'],
    ports: ['', ':443', ':8080'],
    segments: ['v1', 'items', '3.json', '.hidden', '~x', 'A', ''],
    queries: simpleQueries,
  }
  const anyPieces = { schemes, hosts, ports, segments, queries }
  // Count URL parses: the simple URLs must not need one.
  let urlsParsed = 0
  const RealURL = globalThis.URL
  globalThis.URL = class extends RealURL {
    constructor(...args: ConstructorParameters<typeof URL>) {
      super(...args)
      urlsParsed++
    }
  }
  t.teardown(() => {
    globalThis.URL = RealURL
  })
  let simple = 0
  for (let i = 0; i < 4000; i++) {
    const p = i % 2 === 0 ? simplePieces : anyPieces
    const path = Array.from({ length: int(4) }, () => `/${pick(p.segments)}`).join('')
    const url = `${pick(p.schemes)}://${pick(p.hosts)}${pick(p.ports)}${path}${pick(p.queries)}`
    const request = {
      method: pick(['GET', 'post', 'PATCH', 'M-SEARCH']),
      url,
      headers: [['Accept', 'x']] as [string, string][],
    }
    const matchOn = pick(matchOns)
    let expected: string
    try {
      expected = requestKey(new ParsedRequest(request), matchOn)
    } catch (error) {
      t.throws(() => keyOf(request, matchOn), { message: (error as Error).message }, url)
      continue
    }
    const parsed = urlsParsed
    t.is(keyOf(request, matchOn), expected, `${request.method} ${url} ${matchOn.join(',')}`)
    const urlOnly = matchOn.every((name) => !['headers', 'body', 'json_body'].includes(name))
    if (p === simplePieces && urlOnly && /^[a-z]+$/i.test(request.method)) {
      t.is(urlsParsed, parsed, `the key of ${url} is spelled without parsing it`)
      simple++
    }
  }
  t.true(simple > 500, 'the sample holds simple URLs too')
})
