/**
 * Secrets kept out of DVDs: credential headers, query parameters and request-body fields are
 * replaced by a placeholder before anything is recorded, and incoming requests get the same
 * treatment before their lookup key is computed, so a replay with different real credentials still
 * matches the redacted recording.
 */
import { type DVDRequest, type DVDResponse, type HeaderPair, headerValue } from './model.js'

/** What secret values are replaced with. */
export const REDACTED = '[REDACTED]'

/**
 * Headers redacted by default (case-insensitive): request credentials and the response's
 * `set-cookie`.
 */
export const DEFAULT_SECRET_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-api-key',
  'x-auth-token',
  'set-cookie',
]

/**
 * A parameter to filter: its name, or `[name, replacement]`. A `null` replacement removes the
 * parameter (vcrpy's `None`); a bare name is replaced by {@link REDACTED}.
 */
export type ParameterFilter = string | readonly [name: string, replacement: string | null]

/** Filters after validation: name → replacement (`null` removes). */
export type ParameterFilters = ReadonlyMap<string, string | null>

/** Normalizes a list of {@link ParameterFilter}s; `undefined` when it is not a valid list. */
export function parameterFilters(value: unknown): Map<string, string | null> | undefined {
  if (!Array.isArray(value)) return undefined
  const filters = new Map<string, string | null>()
  for (const item of value) {
    if (typeof item === 'string') filters.set(item, REDACTED)
    else if (
      Array.isArray(item) &&
      item.length === 2 &&
      typeof item[0] === 'string' &&
      (typeof item[1] === 'string' || item[1] === null)
    )
      filters.set(item[0], item[1])
    else return undefined
  }
  return filters
}

// ---------------------------------------------------------------- headers

/** One header value with its secret parts replaced; the non-secret structure is kept. */
export function redactHeaderValue(name: string, value: string): string {
  switch (name.toLowerCase()) {
    case 'authorization':
    case 'proxy-authorization': {
      // Keep the scheme (`Bearer`, `Basic`…): it is not secret and says what was sent.
      const scheme = /^([A-Za-z][A-Za-z0-9._~+/-]*)\s+\S/.exec(value)
      return scheme ? `${scheme[1]} ${REDACTED}` : REDACTED
    }
    case 'cookie':
      // `a=1; b=2` → `a=[REDACTED]; b=[REDACTED]`: names kept, values gone.
      return value
        .split(';')
        .map((part) => {
          const eq = part.indexOf('=')
          return eq < 0 ? (part.trim() === '' ? part : REDACTED) : `${part.slice(0, eq + 1)}${REDACTED}`
        })
        .join(';')
    case 'set-cookie': {
      // `sid=abc; Path=/; HttpOnly` → `sid=[REDACTED]; Path=/; HttpOnly`: attributes are not secret.
      const end = value.indexOf(';')
      const pair = end < 0 ? value : value.slice(0, end)
      const eq = pair.indexOf('=')
      const redacted = eq < 0 ? REDACTED : `${pair.slice(0, eq + 1)}${REDACTED}`
      return end < 0 ? redacted : redacted + value.slice(end)
    }
    default:
      return REDACTED
  }
}

/** The headers with the values of the named ones (lower-case names) redacted; the same array when none is. */
export function redactHeaders(headers: HeaderPair[], names: ReadonlySet<string>): HeaderPair[] {
  if (names.size === 0 || !headers.some(([key]) => names.has(key.toLowerCase()))) return headers
  return headers.map(([key, value]) =>
    names.has(key.toLowerCase()) ? [key, redactHeaderValue(key, value)] : [key, value],
  )
}

// ---------------------------------------------------------------- query strings and form bodies

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}

/** Encodes a replacement for a query string, leaving `[` and `]` readable (valid in a query). */
function encodeComponent(text: string): string {
  return encodeURIComponent(text).replace(/%5B/gi, '[').replace(/%5D/gi, ']')
}

/**
 * `a=1&token=x&b=2` with the filtered parameters replaced or removed; every other byte is kept.
 * `undefined` when nothing was filtered.
 */
export function filterParameterString(query: string, filters: ParameterFilters): string | undefined {
  if (filters.size === 0 || query === '') return undefined
  let changed = false
  const out: string[] = []
  for (const part of query.split('&')) {
    const eq = part.indexOf('=')
    const name = decodeComponent(eq < 0 ? part : part.slice(0, eq))
    if (part === '' || !filters.has(name)) {
      out.push(part)
      continue
    }
    changed = true
    const replacement = filters.get(name)
    if (replacement === null || replacement === undefined) continue
    out.push(`${eq < 0 ? part : part.slice(0, eq)}=${encodeComponent(replacement)}`)
  }
  return changed ? out.join('&') : undefined
}

/** The URL with the filtered query parameters replaced or removed; the same string when none is there. */
export function filterUrl(url: string, filters: ParameterFilters): string {
  const q = url.indexOf('?')
  if (filters.size === 0 || q < 0) return url
  const hash = url.indexOf('#', q)
  const end = hash < 0 ? url.length : hash
  const query = filterParameterString(url.slice(q + 1, end), filters)
  if (query === undefined) return url
  return `${url.slice(0, q)}${query === '' ? '' : `?${query}`}${url.slice(end)}`
}

// ---------------------------------------------------------------- JSON bodies

interface Member {
  name: string
  keyStart: number
  valueStart: number
  valueEnd: number
}

const WS = new Set([' ', '\t', '\n', '\r'])

/** End (exclusive) of the JSON string starting at `i` (a `"`). */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++
    else if (text[j] === '"') return j + 1
  }
  return -1
}

/** End (exclusive) of the JSON value starting at `i`. The text is known to be valid JSON. */
function valueEnd(text: string, i: number): number {
  const c = text[i]
  if (c === '"') return stringEnd(text, i)
  if (c === '{' || c === '[') {
    let depth = 0
    for (let j = i; j < text.length; j++) {
      const d = text[j]
      if (d === '"') j = stringEnd(text, j) - 1
      else if (d === '{' || d === '[') depth++
      else if (d === '}' || d === ']') {
        depth--
        if (depth === 0) return j + 1
      }
    }
    return -1
  }
  let j = i
  while (j < text.length && text[j] !== ',' && text[j] !== '}' && text[j] !== ']' && !WS.has(text[j]!)) j++
  return j
}

/** The members of the top-level object of a valid JSON text, with their positions. */
function topLevelMembers(text: string): Member[] | undefined {
  let i = 0
  const skip = () => {
    while (i < text.length && WS.has(text[i]!)) i++
  }
  skip()
  if (text[i] !== '{') return undefined
  i++
  const members: Member[] = []
  for (;;) {
    skip()
    if (text[i] === '}') return members
    if (text[i] === ',') {
      i++
      skip()
    }
    if (text[i] !== '"') return undefined
    const keyStart = i
    const keyEnd = stringEnd(text, i)
    if (keyEnd < 0) return undefined
    const name = JSON.parse(text.slice(keyStart, keyEnd)) as string
    i = keyEnd
    skip()
    if (text[i] !== ':') return undefined
    i++
    skip()
    const valueStart = i
    const end = valueEnd(text, i)
    if (end < 0) return undefined
    members.push({ name, keyStart, valueStart, valueEnd: end })
    i = end
  }
}

/**
 * A JSON object text with the filtered top-level keys' values replaced (by JSON strings) or the
 * members removed; every other byte is kept. `undefined` when not a JSON object or nothing filtered.
 */
export function filterJsonText(text: string, filters: ParameterFilters): string | undefined {
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined
  } catch {
    return undefined
  }
  const members = topLevelMembers(text)
  if (!members?.some((m) => filters.has(m.name))) return undefined
  // Rebuild from the original slices: kept members keep their key, value and the separator
  // before them; filtered values are replaced, removed members vanish with their separator.
  const parts: string[] = [text.slice(0, members[0]!.keyStart)]
  let first = true
  for (let k = 0; k < members.length; k++) {
    const m = members[k]!
    const replacement = filters.has(m.name) ? filters.get(m.name) : undefined
    if (filters.has(m.name) && (replacement === null || replacement === undefined)) continue
    if (!first) parts.push(text.slice(members[k - 1]!.valueEnd, m.keyStart))
    first = false
    parts.push(text.slice(m.keyStart, m.valueStart))
    parts.push(replacement === undefined ? text.slice(m.valueStart, m.valueEnd) : JSON.stringify(replacement))
  }
  const last = members[members.length - 1]!
  parts.push(text.slice(last.valueEnd))
  return parts.join('')
}

// ---------------------------------------------------------------- bodies

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The request body with the filtered parameters replaced, for form and JSON bodies; else `undefined`. */
export function filterBody(
  body: Uint8Array,
  contentType: string | undefined,
  filters: ParameterFilters,
): Buffer | undefined {
  if (filters.size === 0 || !contentType) return undefined
  const type = contentType.split(';')[0]!.trim().toLowerCase()
  const isForm = type === 'application/x-www-form-urlencoded'
  const isJson = type === 'application/json' || type.endsWith('+json')
  if (!isForm && !isJson) return undefined
  let text: string
  try {
    text = utf8.decode(body)
  } catch {
    return undefined
  }
  const filtered = isForm ? filterParameterString(text, filters) : filterJsonText(text, filters)
  return filtered === undefined ? undefined : Buffer.from(filtered, 'utf8')
}

// ---------------------------------------------------------------- requests and responses

/** What to redact, as the DVD's settings hold it. */
export interface RedactionSettings {
  /** Lower-case names of the headers whose values are replaced (empty: none). */
  secretHeaders: ReadonlySet<string>
  /** Query parameters replaced or removed. */
  filterQueryParameters: ParameterFilters
  /** Form and JSON request-body parameters replaced or removed. */
  filterPostDataParameters: ParameterFilters
}

/** The request with its secrets redacted; the same object when there is nothing to redact. */
export function redactRequest(request: DVDRequest, settings: RedactionSettings): DVDRequest {
  let headers = redactHeaders(request.headers, settings.secretHeaders)
  const url = filterUrl(request.url, settings.filterQueryParameters)
  let body = request.body
  if (body && body.length > 0 && settings.filterPostDataParameters.size > 0) {
    const filtered = filterBody(body, headerValue(headers, 'content-type'), settings.filterPostDataParameters)
    if (filtered) {
      body = filtered.length > 0 ? filtered : null
      // The stored headers must tell the truth about the stored body (and match symmetrically).
      if (headers.some(([key]) => key.toLowerCase() === 'content-length')) {
        headers = headers.map(([key, value]) =>
          key.toLowerCase() === 'content-length' ? [key, String(filtered.length)] : [key, value],
        )
      }
    }
  }
  if (headers === request.headers && url === request.url && body === request.body) return request
  return { ...request, url, headers, body }
}

/** The response with its secret headers (e.g. `set-cookie`) redacted. */
export function redactResponse(response: DVDResponse, secretHeaders: ReadonlySet<string>): DVDResponse {
  const headers = redactHeaders(response.headers, secretHeaders)
  return headers === response.headers ? response : { ...response, headers }
}
