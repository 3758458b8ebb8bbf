import test from 'ava'
import { canonicalQuery, DEFAULT_MATCH_ON, ParsedRequest, requestKey } from '../lib/index.js'

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
