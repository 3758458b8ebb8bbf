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

/** Distinct names the fast path handles (it finds a name by a linear search). */
const FAST_QUERY_NAMES = 16

/**
 * The same text as {@link canonicalQueryGeneral} for the common query: nothing to decode (no `%`,
 * no `+`) and few names. It runs for every replayed request, and splitting by hand allocates a
 * tenth of what the iterator, Map and nested arrays do. `undefined` when it does not apply.
 */
function canonicalQueryFast(search: string): string | undefined {
  if (search.includes('%') || search.includes('+')) return undefined
  const names: string[] = []
  const values: string[][] = []
  const end = search.length
  for (let i = search.charCodeAt(0) === 63 /* ? */ ? 1 : 0; i < end; ) {
    let amp = search.indexOf('&', i)
    if (amp === -1) amp = end
    if (amp > i) {
      let eq = search.indexOf('=', i)
      if (eq === -1 || eq > amp) eq = amp
      const name = search.slice(i, eq)
      const value = eq < amp ? search.slice(eq + 1, amp) : ''
      const at = names.indexOf(name)
      if (at !== -1) values[at]!.push(value)
      else if (names.push(name) > FAST_QUERY_NAMES) return undefined
      else values.push([value])
    }
    i = amp + 1
  }
  // Insertion sort of the few names, by UTF-16 code units as Array#sort compares strings.
  const order = names.map((_, k) => k)
  for (let k = 1; k < order.length; k++) {
    const o = order[k]!
    let j = k - 1
    for (; j >= 0 && names[order[j]!]! > names[o]!; j--) order[j + 1] = order[j]!
    order[j + 1] = o
  }
  let text = '['
  for (let k = 0; k < order.length; k++) {
    const o = order[k]!
    text += `${k > 0 ? ',' : ''}[${JSON.stringify(names[o])},[`
    const list = values[o]!
    for (let v = 0; v < list.length; v++) text += (v > 0 ? ',' : '') + JSON.stringify(list[v])
    text += ']]'
  }
  return `${text}]`
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

/** The matchers of `matchOn` on which two requests differ. */
export function differingMatchers(
  recorded: ParsedRequest,
  incoming: ParsedRequest,
  matchOn: readonly MatcherName[],
): MatcherName[] {
  return matchOn.filter((name) => matcherValue(name, recorded) !== matcherValue(name, incoming))
}
