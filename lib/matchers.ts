/**
 * Matchers: how a request is reduced to the canonical values that decide whether two requests are
 * "the same". The chosen matchers' values form the key of the DVD's index, so a lookup is one hash
 * probe and never a scan of all recordings.
 */
import { createHash } from 'node:crypto'
import { InvalidOptionError } from './errors.js'
import type { DVDRequest } from './model.js'

/** Every built-in matcher, in the canonical order used to build keys. */
export const MATCHERS = [
  'method',
  'scheme',
  'host',
  'port',
  'path',
  'query',
  'headers',
  'body',
  'json_body',
] as const

/** Name of a built-in matcher. */
export type MatcherName = (typeof MATCHERS)[number]

/** vcrpy's default: method, scheme, host, port, path, query. */
export const DEFAULT_MATCH_ON: readonly MatcherName[] = ['method', 'scheme', 'host', 'port', 'path', 'query']

/**
 * {@link DEFAULT_MATCH_ON} without `port`: for tests that start their own server on port 0, whose
 * port changes every run (`matchOn: MATCH_ON_WITHOUT_PORT`).
 */
export const MATCH_ON_WITHOUT_PORT: readonly MatcherName[] = DEFAULT_MATCH_ON.filter((m) => m !== 'port')

/**
 * A user matcher applied to the candidates that share the incoming request's key:
 * `(recorded, incoming) => boolean`.
 */
export type ExtraMatcher = (recorded: DVDRequest, incoming: DVDRequest) => boolean

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' }
const MATCHER_SET: ReadonlySet<string> = new Set(MATCHERS)

/**
 * Checks a `matchOn` list and puts it in canonical order, so that `['path', 'host']` and
 * `['host', 'path']` give the same keys.
 */
export function normalizeMatchOn(matchOn: readonly string[], source = 'matchOn'): MatcherName[] {
  if (!Array.isArray(matchOn)) throw new InvalidOptionError(`${source} must be an array of matcher names`)
  for (const name of matchOn) {
    if (!MATCHER_SET.has(name)) {
      throw new InvalidOptionError(
        `${source}: unknown matcher "${String(name)}"; known: ${MATCHERS.join(', ')}`,
      )
    }
  }
  return MATCHERS.filter((name) => matchOn.includes(name))
}

/** A request with its URL parsed once, so each matcher does not parse it again. */
export class ParsedRequest {
  readonly request: DVDRequest
  readonly url: URL

  constructor(request: DVDRequest) {
    this.request = request
    try {
      this.url = new URL(request.url)
    } catch (cause) {
      throw new InvalidOptionError(`not an absolute URL: ${request.url}`, { cause })
    }
  }
}

function digest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64url')
}

/** JSON text with object keys sorted at every level, so key order never matters. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
    return `{${entries.join(',')}}`
  }
  return JSON.stringify(value)
}

/**
 * Query as name → list of values: name order ignored, the order of repeated values kept, blank
 * values kept (`?a=&b=1` differs from `?b=1`).
 */
export function canonicalQuery(search: string): string {
  return canonicalQueryFast(search) ?? canonicalQueryGeneral(search)
}

/** The general form, with `URLSearchParams` doing the parsing and percent-decoding. */
function canonicalQueryGeneral(search: string): string {
  const byName = new Map<string, string[]>()
  for (const [name, value] of new URLSearchParams(search)) {
    const values = byName.get(name)
    if (values) values.push(value)
    else byName.set(name, [value])
  }
  const names = [...byName.keys()].sort()
  return JSON.stringify(names.map((name) => [name, byName.get(name)]))
}

/** Parameters the fast path handles (it sorts them by insertion). */
const FAST_QUERY_PARAMS = 32

/**
 * The same text as {@link canonicalQueryGeneral} for the common query: nothing to decode (no `%`,
 * no `+`) and few parameters. It runs for every replayed request, and splitting by hand allocates a
 * fraction of what the iterator, Map and nested arrays do. With `quote`, names and values are known
 * to need no JSON escaping and are written between `quote`s (`"`, or `\"` for a key that embeds
 * the text). `undefined` when it does not apply.
 */
function canonicalQueryFast(search: string, quote?: string): string | undefined {
  if (search.includes('%') || search.includes('+')) return undefined
  const names: string[] = []
  const values: string[] = []
  const end = search.length
  for (let i = search.charCodeAt(0) === 63 /* ? */ ? 1 : 0; i < end; ) {
    let amp = search.indexOf('&', i)
    if (amp === -1) amp = end
    if (amp > i) {
      if (names.length === FAST_QUERY_PARAMS) return undefined
      let eq = search.indexOf('=', i)
      if (eq === -1 || eq > amp) eq = amp
      const name = search.slice(i, eq)
      const value = eq < amp ? search.slice(eq + 1, amp) : ''
      // Stable insertion by name (UTF-16 code units, as Array#sort compares strings): repeated
      // names end up adjacent with their values in query order.
      let j = names.length
      for (; j > 0 && names[j - 1]! > name; j--) {
        names[j] = names[j - 1]!
        values[j] = values[j - 1]!
      }
      names[j] = name
      values[j] = value
    }
    i = amp + 1
  }
  let text = '['
  for (let k = 0; k < names.length; k++) {
    const name = names[k]!
    const value = quote === undefined ? JSON.stringify(values[k]) : quote + values[k] + quote
    if (k > 0 && name === names[k - 1]) {
      text += `,${value}`
      continue
    }
    if (k > 0) text += ']],'
    text += `[${quote === undefined ? JSON.stringify(name) : quote + name + quote},[${value}`
  }
  return names.length > 0 ? `${text}]]]` : '[]'
}

const decoder = new TextDecoder('utf-8', { fatal: true })

function canonicalJsonBody(body: Uint8Array | null | undefined): string {
  if (!body || body.length === 0) return ''
  try {
    return `json:${digest(Buffer.from(stableJson(JSON.parse(decoder.decode(body)))))}`
  } catch {
    // Not JSON: fall back to comparing the bytes, so two identical non-JSON bodies still match.
    return `bytes:${digest(body)}`
  }
}

/** The canonical value of one matcher for a request. */
export function matcherValue(name: MatcherName, parsed: ParsedRequest): string {
  const { url, request } = parsed
  switch (name) {
    case 'method':
      return request.method.toUpperCase()
    case 'scheme':
      return url.protocol.slice(0, -1)
    case 'host':
      return url.hostname
    case 'port':
      return url.port || DEFAULT_PORTS[url.protocol] || ''
    case 'path':
      return url.pathname
    case 'query':
      return canonicalQuery(url.search)
    case 'headers':
      return JSON.stringify(request.headers.map(([k, v]) => [k.toLowerCase(), v]))
    case 'body':
      return request.body && request.body.length > 0 ? digest(request.body) : ''
    case 'json_body':
      return canonicalJsonBody(request.body)
  }
}

/** The canonical values of the given matchers, in `matchOn` order. */
export function matchFields(parsed: ParsedRequest, matchOn: readonly MatcherName[]): string[] {
  return matchOn.map((name) => matcherValue(name, parsed))
}

/** The index key of a request: equal keys ⇔ equal values for every matcher of `matchOn`. */
export function requestKey(parsed: ParsedRequest, matchOn: readonly MatcherName[]): string {
  return JSON.stringify(matchFields(parsed, matchOn))
}

/** Matchers whose values come from the method and URL alone. */
const URL_MATCHERS: ReadonlySet<MatcherName> = new Set(MATCHERS.slice(0, MATCHERS.indexOf('headers')))

/** True when a key for `matchOn` reads only the method and URL (neither headers nor body). */
export function readsUrlOnly(matchOn: readonly MatcherName[]): boolean {
  return matchOn.every((name) => URL_MATCHERS.has(name))
}

/**
 * A URL that `new URL` leaves exactly as it is, with nothing JSON would escape: lower-case http(s),
 * a host name whose last label starts with a letter (so it is never read as an IPv4 number) or a
 * dotted-decimal address, a port without leading zeros, and a path and query of characters that are
 * never percent-encoded (no `%`, `+`, `'`, `\`, `#` or non-ASCII).
 */
const SIMPLE_URL =
  /^(https?):\/\/((?:[a-z0-9-]+\.)*[a-z][a-z0-9-]*|(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))(?::([1-9]\d{0,4}))?(\/[\w\-.~!$&()*,;=:@/]*)?(\?[\w\-.~!$&()*,;=:@/?]*)?$/
/** A `.` or `..` path segment, which `new URL` would resolve. */
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/

/**
 * {@link requestKey} without parsing the URL, for the common request: a simple URL (see
 * {@link SIMPLE_URL}) and matchers that read only the method and URL. Every replayed request
 * computes a key, and this spelling costs a fraction of `new URL` plus `JSON.stringify`. Gives
 * exactly the text of {@link requestKey}, or `undefined` when it does not apply.
 */
function simpleRequestKey(request: DVDRequest, matchOn: readonly MatcherName[]): string | undefined {
  const method = request.method.toUpperCase()
  if (!/^[A-Z]+$/.test(method)) return undefined
  const m = SIMPLE_URL.exec(request.url)
  if (!m) return undefined
  const [, scheme, host, portText, path = '/', query = ''] = m as unknown as string[]
  if (host!.includes('xn--') || DOT_SEGMENT.test(path)) return undefined
  const port =
    portText === undefined ? (scheme === 'https' ? '443' : '80') : Number(portText) > 65535 ? '' : portText
  if (port === '') return undefined
  let key = '['
  for (let i = 0; i < matchOn.length; i++) {
    let value: string
    switch (matchOn[i]) {
      case 'method':
        value = method
        break
      case 'scheme':
        value = scheme!
        break
      case 'host':
        value = host!
        break
      case 'port':
        value = port
        break
      case 'path':
        value = path
        break
      case 'query': {
        // Names and values hold no quote or backslash, so the canonical text (JSON) needs only its
        // own quotes escaped to sit inside the key (JSON again).
        const canonical = canonicalQueryFast(query, '\\"')
        if (canonical === undefined) return undefined
        value = canonical
        break
      }
      default:
        return undefined
    }
    key += i > 0 ? `,"${value}"` : `"${value}"`
  }
  return `${key}]`
}

/** {@link readsUrlOnly} of the last `matchOn` given to {@link keyOf}: a DVD passes the same array every time. */
let urlOnlyFor: readonly MatcherName[] | undefined
let urlOnly = false

/** The index key of a request (as {@link requestKey}), by the cheapest way that gives the same text. */
export function keyOf(request: DVDRequest, matchOn: readonly MatcherName[]): string {
  if (matchOn !== urlOnlyFor) {
    urlOnly = readsUrlOnly(matchOn)
    urlOnlyFor = matchOn
  }
  if (urlOnly) {
    const key = simpleRequestKey(request, matchOn)
    if (key !== undefined) return key
  }
  return requestKey(new ParsedRequest(request), matchOn)
}

/** The matchers of `matchOn` on which two requests differ. */
export function differingMatchers(
  recorded: ParsedRequest,
  incoming: ParsedRequest,
  matchOn: readonly MatcherName[],
): MatcherName[] {
  return matchOn.filter((name) => matcherValue(name, recorded) !== matcherValue(name, incoming))
}
