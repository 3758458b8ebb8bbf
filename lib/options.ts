/**
 * The options a DVD is opened with, their validation, and the record-mode rules (option,
 * `DVD_RECORD_MODE` override, `CI=true` default).
 */
import type { Dispatcher } from 'undici'
import { InvalidOptionError } from './errors.js'
import { DEFAULT_MATCH_ON, type ExtraMatcher, type MatcherName, normalizeMatchOn } from './matchers.js'
import type { DVDRequest, DVDResponse } from './model.js'
import { DEFAULT_SECRET_HEADERS, type ParameterFilter, parameterFilters } from './redact.js'
import { type BodyRules, bodyRules, type ResponseBodyRedaction } from './redact_body.js'

/**
 * How a DVD treats requests:
 * - `once` — no file yet: record everything. File exists: replay only; an unmatched request fails
 *   with `CannotRecordError`. Python dvd-rw's behaviour, and the default outside CI.
 * - `none` — replay only, never record; a missing file or an unmatched request is an error. The
 *   default when `CI=true`.
 * - `new_episodes` — replay what matches, record what does not, save the union.
 * - `all` — always go to the network and record; the saved file holds only this run's recordings.
 * - `passthrough` — the DVD is off: everything goes to the network, nothing is recorded or saved.
 */
export type RecordMode = 'once' | 'none' | 'new_episodes' | 'all' | 'passthrough'

/** Every record mode. */
export const RECORD_MODES: readonly RecordMode[] = ['once', 'none', 'new_episodes', 'all', 'passthrough']

/** What an installed DVD answers: `fetch` (and undici), `http` (`node:http` and `node:https`). */
export type InterceptTarget = 'fetch' | 'http'

/** Every {@link InterceptTarget}, the default of the `intercept` option. */
export const INTERCEPT_TARGETS: readonly InterceptTarget[] = ['fetch', 'http']

/** The environment variable that overrides every DVD's record mode in this process. */
export const RECORD_MODE_ENV = 'DVD_RECORD_MODE'

/** Options of `DVDLoader.open` and `DVDLoader.use`. */
export interface DVDOptions {
  /**
   * Record mode (see {@link RecordMode}). `DVD_RECORD_MODE` in the environment overrides it; when
   * neither is set the default is `once`, or `none` under `CI=true`. Alias: `record_mode`.
   */
  recordMode?: RecordMode
  /** Matchers hashed into the lookup key. Default `method, scheme, host, port, path, query`. Alias: `match_on`. */
  matchOn?: readonly MatcherName[]
  /** Callbacks `(recorded, incoming) => boolean` run on the candidates sharing a key. Alias: `extra_matchers`. */
  extraMatchers?: readonly ExtraMatcher[]
  /** Request headers removed (case-insensitive) before recording and before lookup. Alias: `filter_headers`. */
  filterHeaders?: readonly string[]
  /**
   * Rewrites a request before it is recorded and before it is looked up; return `null` to mark it
   * not recordable: it then goes to the network, also while replaying. A hook that throws counts as
   * `null`, as in Python dvd-rw. Alias: `before_record_request`.
   */
  beforeRecordRequest?: (request: DVDRequest) => DVDRequest | null
  /** Rewrites a response before it is stored. Alias: `before_record_response`. */
  beforeRecordResponse?: (response: DVDResponse) => DVDResponse
  /**
   * Let a recording be played more than once. Candidates still play in recording order; once all
   * have played, the last one keeps answering. Alias: `allow_playback_repeats`.
   */
  allowPlaybackRepeats?: boolean
  /**
   * The dispatcher that reaches the real network when recording or passing through. Default: the
   * global dispatcher at open time (below any installed DVDs).
   */
  upstream?: Dispatcher
  /**
   * Replace the values of credential headers by `[REDACTED]` before anything is recorded: request
   * `authorization`, `proxy-authorization`, `cookie`, `x-api-key`, `x-auth-token` and response
   * `set-cookie` (see {@link secretHeaders}). Incoming requests are redacted the same way before
   * lookup, so a replay with other real credentials still matches, also when `matchOn` includes
   * `headers`; the network always gets the real values. Default `true`.
   */
  redactSecrets?: boolean
  /**
   * The headers (request or response, case-insensitive) whose values {@link redactSecrets}
   * replaces, instead of the default list (`DEFAULT_SECRET_HEADERS`). An authorization header keeps
   * its scheme (`Bearer [REDACTED]`), cookies keep their names and `set-cookie` its attributes.
   */
  secretHeaders?: readonly string[]
  /**
   * Query parameters replaced in the URL before recording and before lookup: a name (its value
   * becomes `[REDACTED]`) or a `[name, replacement]` pair (`null` removes the parameter). The rest
   * of the URL is kept byte for byte. Alias: `filter_query_parameters`.
   */
  filterQueryParameters?: readonly ParameterFilter[]
  /**
   * Like {@link filterQueryParameters}, for the top-level parameters of
   * `application/x-www-form-urlencoded` and JSON request bodies (a JSON replacement is a string);
   * the rest of the body is kept byte for byte and `content-length` adjusted. Alias:
   * `filter_post_data_parameters`.
   */
  filterPostDataParameters?: readonly ParameterFilter[]
  /**
   * Secrets in response bodies, replaced by `[REDACTED]` before the recording is stored (also in
   * a recorded error's partial response): the values of JSON members named in `jsonFields`, at any
   * depth (`{ jsonFields: ['access_token', 'refresh_token'] }` for an OAuth token endpoint), and
   * text matching `text` (literal strings or regular expressions) in any UTF-8 body. A compressed
   * body that needs redacting is stored decoded; a JSON body with a redacted member is stored as
   * re-serialized JSON. Replay hands out the redacted body. `dvd-convert redact` applies the same
   * rules to an existing DVD.
   */
  redactResponseBody?: ResponseBodyRedaction
  /**
   * Where warnings go, with their code: recordings never played, reported by `close()`
   * (`DVD_WARN_UNUSED`), a binary DVD indexed for another `matchOn`, at open
   * (`DVD_WARN_INDEX`), and HAR entries a DVD cannot replay, skipped at open
   * (`DVD_WARN_HAR_SKIPPED`). Default: a Node process warning (`DVDUnusedRecordingsWarning`,
   * `DVDIndexWarning` or `DVDHarSkippedWarning`), printed on stderr.
   */
  onWarning?: (message: string, code: WarningCode) => void
  /**
   * When `false`, `close()` of a replaying DVD throws an `UnusedRecordingsError` (after saving, if
   * saving applies) when some recordings were never played. Default `true`: they are only warned
   * about through {@link onWarning}.
   */
  allowUnused?: boolean
  /**
   * Leave recordings this run never played out of the file when it is saved again (mode
   * `new_episodes`, where close() then also saves to prune when nothing new was recorded). Alias:
   * `drop_unused_requests`.
   */
  dropUnused?: boolean
  /**
   * JSON and HAR DVDs: save gzip/br/deflate response bodies decoded, with `content-encoding` removed
   * and `content-length` adjusted, for readable diffs (fetch replays the same decoded body; the
   * exact wire bytes are not kept). Ignored for binary DVDs. Alias: `decode_compressed_response`.
   */
  decodeCompressed?: boolean
  /**
   * How fast replayed streams play. Bodies recorded as several chunks (Server-Sent Events, NDJSON,
   * an LLM's streamed answer) always replay in their recorded chunks; this says when each chunk
   * is handed over:
   * - `'instant'` (default): all at once, no delays;
   * - `'recorded'`: each chunk at its recorded offset from the response's headers;
   * - a number: the recorded offsets multiplied by it (`0.5` plays twice as fast, `0` as
   *   `'instant'`).
   *
   * Aborting the request stops a timed replay at once. Bodies recorded in one piece, and files
   * recorded before chunks were kept, play at once whatever this says.
   */
  timing?: Timing
  /**
   * What `install()` and `DVDLoader.use` cover: `fetch` (Node's global fetch and undici's global
   * dispatcher) and `http` (`node:http` and `node:https`, with the clients built on them). Default
   * both; `install({ intercept })` overrides it for one installation.
   */
  intercept?: readonly InterceptTarget[]
}

/** See {@link DVDOptions.timing}. */
export type Timing = 'instant' | 'recorded' | number

/** Options after validation, with defaults applied. */
export interface ResolvedOptions {
  mode: RecordMode
  /** Whether the mode is `none` only because `CI` is set (nothing else chose a mode). */
  modeFromCI: boolean
  matchOn: MatcherName[]
  extraMatchers: ExtraMatcher[]
  filterHeaders: Set<string>
  beforeRecordRequest: ((request: DVDRequest) => DVDRequest | null) | undefined
  beforeRecordResponse: ((response: DVDResponse) => DVDResponse) | undefined
  allowPlaybackRepeats: boolean
  upstream: Dispatcher | undefined
  /** Lower-case header names whose values are redacted (empty when `redactSecrets: false`). */
  secretHeaders: Set<string>
  filterQueryParameters: Map<string, string | null>
  filterPostDataParameters: Map<string, string | null>
  /** Response-body redaction; `undefined` when there is none. */
  responseBodyRules: BodyRules | undefined
  onWarning: (message: string, code: WarningCode) => void
  allowUnused: boolean
  dropUnused: boolean
  decodeCompressed: boolean
  /** {@link DVDOptions.timing} as the factor applied to recorded offsets; 0 for `'instant'`. */
  timing: number
  intercept: readonly InterceptTarget[]
}

/** The codes of the warnings dvd-rw gives. */
export type WarningCode = 'DVD_WARN_UNUSED' | 'DVD_WARN_INDEX' | 'DVD_WARN_HAR_SKIPPED'

const WARNING_TYPES: Record<WarningCode, string> = {
  DVD_WARN_UNUSED: 'DVDUnusedRecordingsWarning',
  DVD_WARN_INDEX: 'DVDIndexWarning',
  DVD_WARN_HAR_SKIPPED: 'DVDHarSkippedWarning',
}

/**
 * The default {@link DVDOptions.onWarning}: a Node process warning (type
 * `DVDUnusedRecordingsWarning`, `DVDIndexWarning` or `DVDHarSkippedWarning`, with its code), which Node prints on stderr;
 * `--no-warnings` or a `process.on('warning')` listener handle it like any other library warning.
 */
export function emitProcessWarning(message: string, code: WarningCode = 'DVD_WARN_UNUSED'): void {
  process.emitWarning(message, { type: WARNING_TYPES[code], code })
}

const ALIASES: Record<string, keyof DVDOptions> = {
  record_mode: 'recordMode',
  match_on: 'matchOn',
  extra_matchers: 'extraMatchers',
  filter_headers: 'filterHeaders',
  before_record_request: 'beforeRecordRequest',
  before_record_response: 'beforeRecordResponse',
  allow_playback_repeats: 'allowPlaybackRepeats',
  filter_query_parameters: 'filterQueryParameters',
  filter_post_data_parameters: 'filterPostDataParameters',
  drop_unused_requests: 'dropUnused',
  decode_compressed_response: 'decodeCompressed',
}
const KNOWN = new Set<string>([
  ...Object.keys(ALIASES),
  ...Object.values(ALIASES),
  'upstream',
  'redactSecrets',
  'secretHeaders',
  'redactResponseBody',
  'onWarning',
  'allowUnused',
  'timing',
  'intercept',
])

function checkMode(value: unknown, source: string): RecordMode {
  if (typeof value === 'string' && (RECORD_MODES as readonly string[]).includes(value))
    return value as RecordMode
  throw new InvalidOptionError(
    `${source}: unknown record mode "${String(value)}"; use one of ${RECORD_MODES.join(', ')}`,
  )
}

/**
 * The record mode in force: `DVD_RECORD_MODE` if set, else the option, else `none` under `CI=true`
 * and `once` otherwise.
 */
export function resolveMode(
  option: RecordMode | undefined,
  env: NodeJS.ProcessEnv = process.env,
): RecordMode {
  const fromEnv = env[RECORD_MODE_ENV]
  if (fromEnv !== undefined && fromEnv !== '') return checkMode(fromEnv, RECORD_MODE_ENV)
  if (option !== undefined) return checkMode(option, 'recordMode')
  return isCI(env) ? 'none' : 'once'
}

/** Whether {@link resolveMode} falls back to `none` because of `CI`, nothing else choosing a mode. */
function modeFromCI(option: RecordMode | undefined, env: NodeJS.ProcessEnv): boolean {
  const fromEnv = env[RECORD_MODE_ENV]
  return (fromEnv === undefined || fromEnv === '') && option === undefined && isCI(env)
}

/** Whether `CI` says this is a CI run (`true` or `1`), which makes replay-only the default. */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.CI === '1'
}

function checkFunction<T>(value: unknown, name: string): T | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'function') throw new InvalidOptionError(`${name} must be a function`)
  return value as T
}

function checkBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'boolean')
    throw new InvalidOptionError(`${name} must be true or false, not ${String(value)}`)
  return value
}

/** Largest timing factor: a recorded second then lasts about 17 minutes. */
const MAX_TIMING = 1000

function checkTiming(value: unknown): number {
  if (value === undefined || value === null || value === 'instant') return 0
  if (value === 'recorded') return 1
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_TIMING) return value
  throw new InvalidOptionError(
    `timing must be 'instant', 'recorded' or a factor from 0 to ${MAX_TIMING} applied to the recorded offsets, not ${typeof value === 'string' ? `"${value}"` : String(value)}`,
  )
}

function checkHeaderNames(value: unknown, name: string): string[] {
  if (
    !Array.isArray(value) ||
    value.some((h) => typeof h !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h))
  )
    throw new InvalidOptionError(`${name} must be an array of header names`)
  return value as string[]
}

function checkFilters(value: unknown, name: string): Map<string, string | null> {
  if (value === undefined || value === null) return new Map()
  const filters = parameterFilters(value)
  if (!filters)
    throw new InvalidOptionError(
      `${name} must be an array of parameter names or [name, replacement] pairs (replacement a string, or null to remove)`,
    )
  return filters
}

/** Validates an `intercept` option: a non-empty list of {@link INTERCEPT_TARGETS}, no repeats. */
export function checkIntercept(value: unknown, name = 'intercept'): readonly InterceptTarget[] {
  if (value === undefined || value === null) return INTERCEPT_TARGETS
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some((t) => !(INTERCEPT_TARGETS as readonly unknown[]).includes(t)) ||
    new Set(value).size !== value.length
  )
    throw new InvalidOptionError(
      `${name} must be a non-empty list of ${INTERCEPT_TARGETS.map((t) => `'${t}'`).join(', ')} without repeats, not ${JSON.stringify(value)}`,
    )
  return value as InterceptTarget[]
}

/** Validates user options (camelCase or Python's snake_case names) and applies defaults. */
export function resolveOptions(
  options: DVDOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('options must be an object')
  const o: Record<string, unknown> = {}
  const givenAs = new Map<string, string>()
  for (const [key, value] of Object.entries(options)) {
    if (!KNOWN.has(key))
      throw new InvalidOptionError(`unknown option "${key}"; known: ${[...KNOWN].join(', ')}`)
    const name = ALIASES[key] ?? key
    if (value === undefined) continue
    const earlier = givenAs.get(name)
    if (earlier !== undefined)
      throw new InvalidOptionError(
        `option ${name} is given twice, as ${earlier} and as ${key}; pass only one of them`,
      )
    givenAs.set(name, key)
    o[name] = value
  }
  const extra = (o.extraMatchers ?? []) as unknown[]
  if (!Array.isArray(extra) || extra.some((f) => typeof f !== 'function')) {
    throw new InvalidOptionError(
      'extraMatchers must be an array of functions (recorded, incoming) => boolean',
    )
  }
  const filter = (o.filterHeaders ?? []) as unknown[]
  if (!Array.isArray(filter) || filter.some((h) => typeof h !== 'string')) {
    throw new InvalidOptionError('filterHeaders must be an array of header names')
  }
  const redactSecrets = checkBoolean(o.redactSecrets, 'redactSecrets', true)
  if (!redactSecrets && o.secretHeaders !== undefined)
    throw new InvalidOptionError(
      'secretHeaders has no effect with redactSecrets: false; pass only one of them',
    )
  const secretHeaders = redactSecrets
    ? checkHeaderNames(o.secretHeaders ?? DEFAULT_SECRET_HEADERS, 'secretHeaders')
    : []
  const upstream = o.upstream as Dispatcher | undefined
  if (upstream !== undefined && typeof (upstream as { dispatch?: unknown }).dispatch !== 'function') {
    throw new InvalidOptionError('upstream must be an undici Dispatcher')
  }
  return {
    mode: resolveMode(o.recordMode as RecordMode | undefined, env),
    modeFromCI: modeFromCI(o.recordMode as RecordMode | undefined, env),
    matchOn: normalizeMatchOn((o.matchOn ?? DEFAULT_MATCH_ON) as string[]),
    extraMatchers: extra as ExtraMatcher[],
    filterHeaders: new Set((filter as string[]).map((h) => h.toLowerCase())),
    beforeRecordRequest: checkFunction(o.beforeRecordRequest, 'beforeRecordRequest'),
    beforeRecordResponse: checkFunction(o.beforeRecordResponse, 'beforeRecordResponse'),
    allowPlaybackRepeats: Boolean(o.allowPlaybackRepeats),
    upstream,
    secretHeaders: new Set(secretHeaders.map((h) => h.toLowerCase())),
    filterQueryParameters: checkFilters(o.filterQueryParameters, 'filterQueryParameters'),
    filterPostDataParameters: checkFilters(o.filterPostDataParameters, 'filterPostDataParameters'),
    responseBodyRules: bodyRules(o.redactResponseBody),
    onWarning:
      checkFunction<(message: string, code: WarningCode) => void>(o.onWarning, 'onWarning') ??
      emitProcessWarning,
    allowUnused: checkBoolean(o.allowUnused, 'allowUnused', true),
    dropUnused: checkBoolean(o.dropUnused, 'dropUnused', false),
    decodeCompressed: checkBoolean(o.decodeCompressed, 'decodeCompressed', false),
    timing: checkTiming(o.timing),
    intercept: checkIntercept(o.intercept),
  }
}
