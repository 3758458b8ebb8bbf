/**
 * The DVD: recordings, their keyed index, play counts and the record-mode decision for each
 * request. No I/O and no network here: the loader hands the DVD a {@link RecordingStore} (in memory
 * for JSON files, the mapped file for binary ones) and the interceptor asks it what to do.
 */
import {
  CannotRecordError,
  DVDError,
  type NearMiss,
  type UnmatchedDetails,
  UnmatchedRequestError,
} from './errors.js'
import {
  differingMatchers,
  type ExtraMatcher,
  keyOf,
  type MatcherName,
  ParsedRequest,
  readsUrlOnly,
} from './matchers.js'
import {
  type DVDRequest,
  type DVDResponse,
  describeRequest,
  isRecordedError,
  type Outcome,
  type Recording,
  withoutHeaders,
} from './model.js'
import type { RecordMode } from './options.js'
import { type Bucket, choose, PlayCounts } from './play_counts.js'
import { count as plural } from './plural.js'
import { type ParameterFilters, type RedactionSettings, redactRequest } from './redact.js'
import { type BodyRules, redactOutcome } from './redact_body.js'

/**
 * The parts an undici dispatch gives a request by (`method` as sent, `origin`, `path`): a store may
 * compute the request's key from them itself.
 */
export interface DispatchParts {
  readonly method: string
  readonly origin: string
  readonly path: string
}

/** A request as the DVD looks it up in a store. */
export interface Query {
  /**
   * The request looked up (it may be the interceptor's own object, whose `headers` a spread does
   * not copy).
   */
  readonly request: DVDRequest
  /** Its index key for the DVD's `matchOn` (computed when first asked). */
  key(): string
  /**
   * Its dispatch parts, when its key may be computed from them: the key reads only the method and
   * URL and nothing rewrites the request before the lookup.
   */
  readonly parts: DispatchParts | undefined
}

/** A recording a store chose among the candidates of a key (see {@link RecordingStore.find}). */
export interface Candidate {
  /** Its id in the DVD. */
  readonly id: number
  /** Its position among the candidates of the key. */
  readonly position: number
  /** Its request: ask before the store's next call, which may reuse what it was read into. */
  request(): DVDRequest
  /** Its outcome, which refers to nothing the store reuses: ask before the store's next call. */
  outcome(): Outcome
}

/** Where a DVD's recordings live. Ids are positions in recording order, from 0. */
export interface RecordingStore {
  /** Number of recordings. */
  readonly count: number
  /**
   * Among the recordings keyed like `query`, in recording order, from position `from` on: the
   * first one `plays` counts as never played, or the last when all were played; with `plays`
   * `null`, the one at `from`. `undefined` when there is none at or after `from`. Only the
   * recording chosen is decoded.
   */
  find(query: Query, from: number, plays: PlayCounts | null): Candidate | undefined
  /** The recording with this id. */
  get(id: number): Recording
}

/**
 * Where the recordings made in a session go: in memory ({@link MemoryStore}), or straight to the
 * file being written (formats/streamed_session.ts), so that recording holds only an index.
 */
export interface SessionStore extends RecordingStore {
  /** Appends a recording and returns its id (from 0, counted among the session's recordings). */
  add(recording: Recording): number
}

/** A candidate of a {@link MemoryStore}: the recording itself. */
class MemoryCandidate implements Candidate {
  constructor(
    readonly id: number,
    readonly position: number,
    readonly recording: Recording,
  ) {}

  request(): DVDRequest {
    return this.recording.request
  }

  outcome(): Outcome {
    return this.recording.outcome
  }
}

/** A store held in memory, indexed by key once when built. */
export class MemoryStore implements SessionStore {
  readonly #recordings: Recording[]
  readonly #index = new Map<string, Bucket>()
  readonly #matchOn: readonly MatcherName[]
  readonly #firstId: number

  /** `firstId` is the DVD id of the first recording (a store of recordings added after others). */
  constructor(recordings: Recording[], matchOn: readonly MatcherName[], firstId = 0) {
    this.#recordings = recordings
    this.#matchOn = matchOn
    this.#firstId = firstId
    for (let id = 0; id < recordings.length; id++) this.#addToIndex(id)
  }

  get count(): number {
    return this.#recordings.length
  }

  find(query: Query, from: number, plays: PlayCounts | null): Candidate | undefined {
    const bucket = this.#index.get(query.key())
    const position = bucket ? choose(bucket, from, plays, this.#firstId) : -1
    if (position < 0) return undefined
    const id = bucket!.ids[position]!
    return new MemoryCandidate(this.#firstId + id, position, this.#recordings[id]!)
  }

  /** The recording with this id, counted from the store's first recording. */
  get(id: number): Recording {
    const recording = this.#recordings[id]
    if (!recording) throw new RangeError(`no recording #${id}`)
    return recording
  }

  /** Appends a recording and returns its id, counted from the store's first recording. */
  add(recording: Recording): number {
    this.#recordings.push(recording)
    this.#addToIndex(this.#recordings.length - 1)
    return this.#recordings.length - 1
  }

  #addToIndex(id: number): void {
    const key = keyOf(this.get(id).request, this.#matchOn)
    const bucket = this.#index.get(key)
    if (bucket) bucket.ids.push(id)
    else this.#index.set(key, { ids: [id], firstUnplayed: 0 })
  }
}

/** What the interceptor must do with a request. */
export type Decision =
  /** Send it to the network and do not record it (passthrough, or not recordable). */
  | { kind: 'live' }
  /** Send it to the network and record the outcome for this (filtered) request. */
  | { kind: 'record'; request: DVDRequest }
  /** Answer with this recording. */
  | { kind: 'replay'; id: number; outcome: Outcome }
  /** Fail the request with this error. */
  | { kind: 'fail'; error: UnmatchedRequestError }

/** Settings of a DVD (validated options plus where it came from). */
export interface DVDSettings {
  /** Name of the file, used in messages. */
  file: string
  mode: RecordMode
  /** Whether recordings were loaded from an existing file. */
  fromFile: boolean
  matchOn: readonly MatcherName[]
  extraMatchers: readonly ExtraMatcher[]
  filterHeaders: ReadonlySet<string>
  beforeRecordRequest?: ((request: DVDRequest) => DVDRequest | null) | undefined
  beforeRecordResponse?: ((response: DVDResponse) => DVDResponse) | undefined
  allowPlaybackRepeats: boolean
  /** Lower-case names of the headers whose values are redacted (request and response); default none. */
  secretHeaders?: ReadonlySet<string> | undefined
  /** Query parameters replaced (or removed, `null`) before recording and lookup. */
  filterQueryParameters?: ParameterFilters | undefined
  /** Form / JSON request-body parameters replaced (or removed, `null`) before recording and lookup. */
  filterPostDataParameters?: ParameterFilters | undefined
  /** Factor applied to the recorded arrival offsets of streamed chunks on replay; 0 or absent: no delays. */
  timing?: number
  /** Secrets replaced in response bodies before recording. */
  responseBodyRules?: BodyRules | undefined
}

/** One recording in a {@link RunReport}. */
export interface RecordingReport {
  /** Position in the DVD (0-based, recording order). */
  index: number
  method: string
  url: string
  /** How many times it answered in this run (a recording made in this run counts 1). */
  played: number
}

/** What a run did with a DVD's recordings: JSON-serializable, for tools and CI artefacts. */
export interface RunReport {
  file: string
  mode: RecordMode
  recordings: RecordingReport[]
}

/** A recording that was never played: its position and `METHOD url`. */
export interface UnusedRecording {
  index: number
  request: string
}

/** How many unplayed recordings messages list one by one. */
export const UNUSED_LIST_LIMIT = 10

/** Recordings never played, as a headline and one line per listed recording, the rest counted. */
function unusedList(
  file: string,
  count: number,
  listed: readonly UnusedRecording[],
  dropped: boolean,
): string {
  const lines = [
    `dvd-rw: ${plural(count, 'recording')} in ${file} ${count === 1 ? 'was' : 'were'} never played${dropped ? ' (left out of the saved file)' : ''}:`,
  ]
  for (const u of listed) lines.push(`  #${u.index} ${u.request}`)
  if (count > listed.length) lines.push(`  … and ${count - listed.length} more`)
  return lines.join('\n')
}

/** The warning about recordings never played, with the way to prune them when they were kept. */
export function unusedWarning(
  file: string,
  count: number,
  listed: readonly UnusedRecording[],
  dropped = false,
): string {
  const list = unusedList(file, count, listed, dropped)
  return dropped
    ? list
    : `${list}\n  To prune them from the file, open it with dropUnused: true and run with DVD_RECORD_MODE=new_episodes.`
}

/**
 * `allowUnused: false`: the DVD was closed with recordings that were never played (a test no
 * longer makes a request it used to, or makes it differently). Thrown by `close()` after saving.
 */
export class UnusedRecordingsError extends DVDError {
  /** The DVD file. */
  readonly file: string
  /** How many recordings were never played. */
  readonly count: number
  /** The first of them (at most ten). */
  readonly unused: UnusedRecording[]

  constructor(file: string, count: number, unused: UnusedRecording[], dropped = false) {
    super(
      'DVD_ERR_UNUSED',
      `${unusedList(file, count, unused, dropped)}\n  ` +
        'Remove them (dropUnused with DVD_RECORD_MODE=new_episodes, or re-record), or pass allowUnused: true.',
    )
    this.file = file
    this.count = count
    this.unused = unused
  }
}

/**
 * How many recordings an unmatched-request message compares against at most: the scan runs only
 * on failures, but must stay quick on DVDs of a million recordings.
 */
const NEAREST_SCAN_LIMIT = 20_000

const NONE: ReadonlySet<string> = new Set()
const NO_FILTERS: ParameterFilters = new Map()

/** Recordings plus the keyed index, play counts and the per-request decision of the record mode. */
export class DVD {
  readonly settings: DVDSettings
  readonly #base: RecordingStore
  readonly #added: SessionStore
  readonly #plays = new PlayCounts()
  readonly #baseOnly: readonly RecordingStore[]
  readonly #both: readonly RecordingStore[]
  /** The redaction settings with their defaults, built once rather than on every request. */
  readonly #redaction: RedactionSettings
  /**
   * True when replay lookups may skip {@link prepare}: nothing rewrites the URL or the body, no
   * hook can declare a request not recordable, no extra matcher reads the request and the key
   * reads only the method and URL, so header filtering and redaction cannot change the outcome.
   */
  readonly #lookupUnprepared: boolean
  #dirty = false

  /** `added` receives the recordings made in this session (default: kept in memory). */
  constructor(base: RecordingStore, settings: DVDSettings, added?: SessionStore) {
    this.#base = base
    this.settings = settings
    this.#added = added ?? new MemoryStore([], settings.matchOn, base.count)
    this.#baseOnly = [base]
    this.#both = [base, this.#added]
    this.#redaction = {
      secretHeaders: settings.secretHeaders ?? NONE,
      filterQueryParameters: settings.filterQueryParameters ?? NO_FILTERS,
      filterPostDataParameters: settings.filterPostDataParameters ?? NO_FILTERS,
    }
    this.#lookupUnprepared =
      !settings.beforeRecordRequest &&
      settings.extraMatchers.length === 0 &&
      this.#redaction.filterQueryParameters.size === 0 &&
      this.#redaction.filterPostDataParameters.size === 0 &&
      readsUrlOnly(settings.matchOn)
  }

  /** Whether the record mode answers requests from the recordings. */
  #replays(): boolean {
    const { mode } = this.settings
    return mode === 'none' || mode === 'new_episodes' || (mode === 'once' && this.fromFile)
  }

  /** Whether the recordings came from an existing file. */
  get fromFile(): boolean {
    return this.settings.fromFile
  }

  /** Whether something was recorded since the DVD was opened (it needs saving). */
  get dirty(): boolean {
    return this.#dirty
  }

  /** Number of recordings, old and new. */
  get count(): number {
    return this.#base.count + this.#added.count
  }

  /** Total number of replays served. */
  get playCount(): number {
    return this.#plays.total
  }

  /** True when every recording has been played (or was recorded in this session). */
  get allPlayed(): boolean {
    return this.#plays.played === this.count
  }

  /** The recording with this id (ids follow recording order, from 0). */
  get(id: number): Recording {
    return id < this.#base.count ? this.#base.get(id) : this.#added.get(id - this.#base.count)
  }

  /** The store the DVD was opened with (recordings from the file). */
  get base(): RecordingStore {
    return this.#base
  }

  /** Recordings made since the DVD was opened, in recording order. */
  *added(): IterableIterator<Recording> {
    for (let id = 0; id < this.#added.count; id++) yield this.#added.get(id)
  }

  /** Every recording, in recording order. */
  *recordings(): IterableIterator<Recording> {
    for (let id = 0; id < this.count; id++) yield this.get(id)
  }

  /** Recordings never played (recordings made in this session count as played). */
  unplayed(): Recording[] {
    const result: Recording[] = []
    for (const id of this.unplayedIds()) result.push(this.get(id))
    return result
  }

  /** Ids of the recordings never played, in order (nothing is decoded). */
  *unplayedIds(): IterableIterator<number> {
    for (let id = 0; id < this.count; id++) if (this.#plays.get(id) === 0) yield id
  }

  /** Number of recordings never played (nothing is decoded). */
  get unplayedCount(): number {
    return this.count - this.#plays.played
  }

  /** How many times the recording with this id answered (a recording made in this session: 1). */
  plays(id: number): number {
    return this.#plays.get(id)
  }

  /** The first unplayed recordings, at most `limit`, described for messages. */
  unusedSample(limit = UNUSED_LIST_LIMIT): UnusedRecording[] {
    const sample: UnusedRecording[] = []
    for (const id of this.unplayedIds()) {
      if (sample.length >= limit) break
      sample.push({ index: id, request: describeRequest(this.get(id).request) })
    }
    return sample
  }

  /** What this run did with every recording (decodes each recording's request). */
  report(): RunReport {
    const recordings: RecordingReport[] = []
    for (let id = 0; id < this.count; id++) {
      const { method, url } = this.get(id).request
      recordings.push({ index: id, method, url, played: this.plays(id) })
    }
    return { file: this.settings.file, mode: this.settings.mode, recordings }
  }

  /**
   * Applies `filterHeaders`, the secret redaction (`secretHeaders`, `filterQueryParameters`,
   * `filterPostDataParameters`), then `beforeRecordRequest`: the same steps for a request about to
   * be recorded and for one looked up, so both sides compare alike. `null` means "not recordable":
   * the request goes to the network untouched. A hook that throws counts as `null`, as in Python
   * dvd-rw.
   */
  prepare(request: DVDRequest): DVDRequest | null {
    const { filterHeaders, beforeRecordRequest } = this.settings
    const { method, url, headers, body } = request
    // Always a plain object: what comes in may be the interceptor's lazy request (an accessor for
    // its headers), which must reach neither hooks nor files.
    let prepared: DVDRequest = { method, url, headers }
    if (body !== undefined) prepared.body = body
    if (filterHeaders.size > 0) prepared.headers = withoutHeaders(headers, filterHeaders)
    prepared = redactRequest(prepared, this.#redaction)
    if (!beforeRecordRequest) return prepared
    try {
      return beforeRecordRequest(prepared) ?? null
    } catch {
      return null
    }
  }

  /**
   * Decides what happens to an outgoing request under this DVD's record mode. `parts` are the
   * request's dispatch parts when it came through an undici dispatch: a store may then key it
   * without a key computed here.
   */
  decide(request: DVDRequest, parts?: DispatchParts): Decision {
    const { mode, matchOn } = this.settings
    if (mode === 'passthrough') return { kind: 'live' }
    const replays = this.#replays()
    // The replay path: its request's headers are never even turned into pairs (see toDVDRequest).
    const direct = replays && this.#lookupUnprepared ? new KeyedQuery(request, matchOn, parts) : undefined
    if (direct !== undefined) {
      const found = this.#find(direct)
      if (found) return found
    }
    const prepared = this.prepare(request)
    if (prepared === null) return { kind: 'live' }
    if (!replays) return { kind: 'record', request: prepared }
    const query = direct ?? new KeyedQuery(prepared, matchOn, undefined)
    const found = direct === undefined ? this.#find(query) : undefined
    if (found) return found
    if (mode === 'new_episodes') return { kind: 'record', request: prepared }
    const details = this.#unmatchedDetails(new ParsedRequest(prepared), query)
    return {
      kind: 'fail',
      error: mode === 'once' ? new CannotRecordError(details) : new UnmatchedRequestError(details),
    }
  }

  /** The outcome with its secret headers and body values redacted (a recorded error's partial response too). */
  #redactOutcome(outcome: Outcome): Outcome {
    return redactOutcome(outcome, this.settings.secretHeaders ?? NONE, this.settings.responseBodyRules)
  }

  /**
   * Stores the outcome of a request that went to the network: secret headers redacted first, then
   * `beforeRecordResponse`.
   */
  record(request: DVDRequest, outcome: Outcome): number {
    const hook = this.settings.beforeRecordResponse
    const redacted = this.#redactOutcome(outcome)
    const stored = hook && !isRecordedError(redacted) ? hook(redacted) : redacted
    const id = this.#base.count + this.#added.add({ request, outcome: stored })
    // It was answered live, so it must not answer a later identical request as if replayed.
    this.#plays.add(id)
    this.#dirty = true
    return id
  }

  /** The stores to look requests up in: the file's, then this session's recordings when there are any. */
  #stores(): readonly RecordingStore[] {
    return this.#added.count === 0 ? this.#baseOnly : this.#both
  }

  #passesExtra(recorded: DVDRequest, incoming: DVDRequest): boolean {
    return this.settings.extraMatchers.every((matcher) => matcher(recorded, incoming))
  }

  /**
   * The recording that answers `query`: the first never played of its key that the extra matchers
   * accept, or with `allowPlaybackRepeats` the last they accept. Play counts are checked on ids,
   * and only a recording the extra matchers must see, or the one answering, is decoded.
   */
  #find(query: Query): Decision | undefined {
    const extra = this.settings.extraMatchers.length > 0
    let refused = false
    let repeat: { id: number; outcome: Outcome } | undefined
    for (const store of this.#stores()) {
      let found = store.find(query, 0, this.#plays)
      while (found) {
        const played = this.#plays.get(found.id) !== 0
        if (!extra || this.#passesExtra(found.request(), query.request)) {
          if (!played) {
            this.#plays.add(found.id)
            return { kind: 'replay', id: found.id, outcome: found.outcome() }
          }
          // A played candidate is chosen only when none after it is unplayed: the last of its key.
          repeat = { id: found.id, outcome: found.outcome() }
          break
        }
        refused = true
        if (played) break
        found = store.find(query, found.position + 1, this.#plays)
      }
    }
    if (!this.settings.allowPlaybackRepeats) return undefined
    // The extra matchers refused one: the repeat is the last recording of the key they accept,
    // which may lie before the candidates seen.
    if (refused) return this.#replay(this.#lastAccepted(query))
    return this.#replay(repeat)
  }

  #replay(found: { id: number; outcome: Outcome } | undefined): Decision | undefined {
    if (!found) return undefined
    this.#plays.add(found.id)
    return { kind: 'replay', ...found }
  }

  /** The last recording of the query's key the extra matchers accept (one store call per candidate). */
  #lastAccepted(query: Query): { id: number; outcome: Outcome } | undefined {
    let last: { id: number; outcome: Outcome } | undefined
    for (const store of this.#stores()) {
      for (let c = store.find(query, 0, null); c; c = store.find(query, c.position + 1, null)) {
        if (this.#passesExtra(c.request(), query.request)) last = { id: c.id, outcome: c.outcome() }
      }
    }
    return last
  }

  /** Ids of every recording of the query's key (one store call per candidate; failures only). */
  #keyIds(query: Query): Set<number> {
    const ids = new Set<number>()
    for (const store of this.#stores()) {
      for (let c = store.find(query, 0, null); c; c = store.find(query, c.position + 1, null)) ids.add(c.id)
    }
    return ids
  }

  #unmatchedDetails(incoming: ParsedRequest, query: Query): UnmatchedDetails {
    const { matchOn, file, mode } = this.settings
    const sameKey = this.#keyIds(query)
    let alreadyPlayed = 0
    const misses: NearMiss[] = []
    const limit = Math.min(this.count, NEAREST_SCAN_LIMIT)
    for (let id = 0; id < limit; id++) {
      const recorded = this.get(id).request
      if (sameKey.has(id)) {
        if (this.#plays.get(id) > 0) alreadyPlayed++
        else misses.push({ index: id, request: describeRequest(recorded), differences: ['extraMatchers'] })
        continue
      }
      const differences = differingMatchers(new ParsedRequest(recorded), incoming, matchOn)
      misses.push({ index: id, request: describeRequest(recorded), differences })
    }
    misses.sort((a, b) => a.differences.length - b.differences.length || a.index - b.index)
    return {
      file,
      mode,
      request: describeRequest(incoming.request),
      matchOn,
      nearest: misses.slice(0, 3),
      alreadyPlayed,
      scanned: limit,
      total: this.count,
    }
  }
}

/** A {@link Query} whose key is computed once, when first asked. */
class KeyedQuery implements Query {
  #key: string | undefined

  constructor(
    readonly request: DVDRequest,
    readonly matchOn: readonly MatcherName[],
    readonly parts: DispatchParts | undefined,
  ) {}

  key(): string {
    this.#key ??= keyOf(this.request, this.matchOn)
    return this.#key
  }
}
