/**
 * What Python dvd-rw 0.1.6 accepts when it loads a DVD, written out as a validator: its pydantic
 * models (`dvd_rw/models.py`) read through `TypeAdapter(list[tuple[Request, Response |
 * RequestExceptionInfo]]).validate_json`.
 *
 * - the document is a list of 2-item lists `[request, value]`;
 * - `Request`: `headers: list[tuple[str, str]]`, `method: str`, `url: str`;
 * - `Response`: `status: int`, `headers: list[tuple[str, str]]`, `body: bytes | None` — required,
 *   `null` or a string `"b64_byte__" + base64`;
 * - `RequestExceptionInfo`: `exc_type: ImportString[Callable]` (an importable dotted name: here only
 *   the httpx exception names dvd-rw exports, from `HTTPX_TYPES`), `message: str`;
 * - extra fields are ignored (pydantic's default), so our extension fields are allowed.
 *
 * Where pydantic's lax mode would coerce (a status `"200"`, base64 with stray characters), this
 * validator refuses: it checks what dvd-rw must *write*, which is the strict form.
 */
import { HTTPX_TYPES } from '../../lib/formats/python_errors.js'

const PREFIX = 'b64_byte__'
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const IMPORTABLE = new Set<string>(HTTPX_TYPES)

/** One reason Python dvd-rw would refuse the file, at a location like `[3][1].status`. */
export interface SchemaProblem {
  location: string
  problem: string
}

type Obj = Record<string, unknown>

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

function strField(o: Obj, key: string, at: string, out: SchemaProblem[]): void {
  if (!(key in o)) out.push({ location: `${at}.${key}`, problem: 'field required' })
  else if (typeof o[key] !== 'string') out.push({ location: `${at}.${key}`, problem: 'expected a string' })
}

function headers(o: Obj, at: string, out: SchemaProblem[]): void {
  const value = o.headers
  const where = `${at}.headers`
  if (!('headers' in o)) return void out.push({ location: where, problem: 'field required' })
  if (!Array.isArray(value)) return void out.push({ location: where, problem: 'expected a list' })
  value.forEach((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) {
      out.push({ location: `${where}[${i}]`, problem: 'expected a [str, str] pair' })
    } else if (typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      out.push({ location: `${where}[${i}]`, problem: 'expected strings' })
    }
  })
}

function request(value: unknown, at: string, out: SchemaProblem[]): void {
  if (!isObject(value)) return void out.push({ location: at, problem: 'expected a Request object' })
  headers(value, at, out)
  strField(value, 'method', at, out)
  strField(value, 'url', at, out)
}

function response(o: Obj, at: string): SchemaProblem[] {
  const out: SchemaProblem[] = []
  if (!Number.isInteger(o.status)) out.push({ location: `${at}.status`, problem: 'expected an integer' })
  headers(o, at, out)
  if (!('body' in o)) out.push({ location: `${at}.body`, problem: 'field required' })
  else if (o.body !== null) {
    if (typeof o.body !== 'string') out.push({ location: `${at}.body`, problem: 'expected null or a string' })
    else if (!o.body.startsWith(PREFIX)) out.push({ location: `${at}.body`, problem: `missing "${PREFIX}"` })
    else if (!STRICT_BASE64.test(o.body.slice(PREFIX.length)))
      out.push({ location: `${at}.body`, problem: 'invalid base64' })
  }
  return out
}

function exception(o: Obj, at: string): SchemaProblem[] {
  const out: SchemaProblem[] = []
  if (typeof o.exc_type !== 'string')
    out.push({ location: `${at}.exc_type`, problem: 'expected a dotted name' })
  else if (!IMPORTABLE.has(o.exc_type))
    out.push({ location: `${at}.exc_type`, problem: `"${o.exc_type}" is not an importable httpx exception` })
  strField(o, 'message', at, out)
  return out
}

/** Every problem Python dvd-rw 0.1.6 would refuse `text` for; empty when it loads. */
export function pythonSchemaProblems(text: string): SchemaProblem[] {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    return [{ location: '', problem: `invalid JSON: ${(error as Error).message}` }]
  }
  if (!Array.isArray(data)) return [{ location: '', problem: 'expected a list' }]
  const out: SchemaProblem[] = []
  data.forEach((item, i) => {
    if (!Array.isArray(item) || item.length !== 2) {
      out.push({ location: `[${i}]`, problem: 'expected a [request, value] pair' })
      return
    }
    request(item[0], `[${i}][0]`, out)
    const value = item[1]
    const at = `[${i}][1]`
    if (!isObject(value)) {
      out.push({ location: at, problem: 'expected a Response or RequestExceptionInfo object' })
      return
    }
    // A union: the value is valid if either model accepts it (pydantic tries both).
    const asResponse = response(value, at)
    const asException = exception(value, at)
    if (asResponse.length > 0 && asException.length > 0) {
      out.push(...('exc_type' in value ? asException : asResponse))
    }
  })
  return out
}

/** A request and a response as Python dvd-rw writes them. */
export const SAMPLE_REQUEST = { headers: [['accept', '*/*']], method: 'GET', url: 'http://127.0.0.1:1/x' }
export const SAMPLE_RESPONSE = {
  status: 200,
  headers: [['content-type', 'text/plain']],
  body: 'b64_byte__b2s=',
}

/** A file Python dvd-rw 0.1.6 loads, with our extension fields in it. */
export const ACCEPTED_BY_PYTHON = [
  [SAMPLE_REQUEST, SAMPLE_RESPONSE],
  [
    { ...SAMPLE_REQUEST, body: 'b64_byte__' },
    { ...SAMPLE_RESPONSE, body: null, wire_body: 'x', reason: 'Fine' },
  ],
  [SAMPLE_REQUEST, { exc_type: 'httpx.ConnectError', message: '[Errno 111] Connection refused', node: {} }],
]

/**
 * Files Python dvd-rw 0.1.6 refuses to load, each with the one location this validator reports.
 * (The interop tests check that Python's own loader refuses every one of them.)
 */
export const REFUSED_BY_PYTHON: [what: string, doc: unknown, location: string][] = [
  ['a response without body', [[SAMPLE_REQUEST, { status: 200, headers: [] }]], '[0][1].body'],
  [
    'a body without the b64_byte__ prefix',
    [[SAMPLE_REQUEST, { ...SAMPLE_RESPONSE, body: 'b2s=' }]],
    '[0][1].body',
  ],
  [
    'a body with invalid base64',
    [[SAMPLE_REQUEST, { ...SAMPLE_RESPONSE, body: 'b64_byte__b2s' }]],
    '[0][1].body',
  ],
  [
    'a response header that is not a string',
    [[SAMPLE_REQUEST, { ...SAMPLE_RESPONSE, headers: [['a', 1]] }]],
    '[0][1].headers[0]',
  ],
  [
    'a header pair of 3 items',
    [[{ ...SAMPLE_REQUEST, headers: [['a', 'b', 'c']] }, SAMPLE_RESPONSE]],
    '[0][0].headers[0]',
  ],
  ['a request without url', [[{ headers: [], method: 'GET' }, SAMPLE_RESPONSE]], '[0][0].url'],
  [
    'an exc_type that does not import',
    [[SAMPLE_REQUEST, { exc_type: 'Error', message: 'x' }]],
    '[0][1].exc_type',
  ],
  ['a pair of 3 items', [[SAMPLE_REQUEST, SAMPLE_RESPONSE, SAMPLE_RESPONSE]], '[0]'],
  ['a top-level object', { interactions: [] }, ''],
]
