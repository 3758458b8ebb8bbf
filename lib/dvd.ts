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
import { PlayCounts } from './play_counts.js'
import { count as plural } from './plural.js'
import { type ParameterFilters, type RedactionSettings, redactRequest, redactResponse } from './redact.js'

/** Where a DVD's recordings live. Ids are positions in recording order, from 0. */
export interface RecordingStore {
  /** Number of recordings. */
  readonly count: number
  /**
   * Ids of the recordings whose key equals `key`, in recording order. `request` is the request
   * the key was computed from, which a store may use to confirm candidates cheaply (read its
   * fields; it may be the interceptor's own object, whose `headers` a spread does not copy).
   */
  lookup(key: string, request?: DVDRequest): readonly number[]
  /** The recording with this id. */
  get(id: number): Recording
  /**
   * The replay fast path, for stores that can take it: the first recording keyed like a request
   * given by its dispatch parts (`method` as sent, `origin`, `path`), found without a key from
   * TypeScript, when it was recorded with exactly this method and URL and is a response.
   * `undefined` when the store cannot tell this way; the DVD then looks the request up the general
   * way, which finds the same recording.
   */
  findExact?(method: string, origin: string, path: string): ExactMatch | undefined
}

/** What {@link RecordingStore.findExact} found. */
export interface ExactMatch {
  /** The recording's id. */
  readonly id: number
  /** Whether it is the only recording the store holds under the request's key. */
  readonly only: boolean
  /**
   * Its response, built when asked (a found recording is not always answered): ask before the
   * store's next lookup, which may reuse what it was read into.
   */
  response(): DVDResponse
}

/** A store held in memory, indexed by key once when built. */
export class MemoryStore implements RecordingStore {
  readonly #recordings: Recording[]
  readonly #index = new Map<string, number[]>()
  readonly #matchOn: readonly MatcherName[]

  constructor(recordings: Recording[], matchOn: readonly MatcherName[]) {
    this.#recordings = recordings
    this.#matchOn = matchOn
    for (let id = 0; id < recordings.length; id++) this.#addToIndex(id)
  }

  get count(): number {
    return this.#recordings.length
  }

  lookup(key: string): readonly number[] {
    return this.#index.get(key) ?? []
  }

  get(id: number): Recording {
    const recording = this.#recordings[id]
    if (!recording) throw new RangeError(`no recording #${id}`)
    return recording
  }

  /** Appends a recording and returns its id. */
  add(recording: Recording): number {
    this.#recordings.push(recording)
    this.#addToIndex(this.#recordings.length - 1)
    return this.#recordings.length - 1
  }

  #addToIndex(id: number): void {
    const key = keyOf(this.get(id).request, this.#matchOn)
    const bucket = this.#index.get(key)
    if (bucket) bucket.push(id)
    else this.#index.set(key, [id])
  }
}

/** What the interceptor must do with a request. */
export type Decision =
  /** Send it to the network and do not record it (passthrough, or not recordable). */
  | { kind: 'live' }
  /** Send it to the network and record the outcome for this (filtered) request. */
  | { kind: 'record'; request: DVDRequest }
  /** Answer with this recording. */
  | { kind: 'replay'; id: number; recording: Recording }
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
  /** The first of them (at most {@link UNUSED_LIST_LIMIT}). */
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
  readonly #added: MemoryStore
  readonly #plays = new PlayCounts()
  /** The redaction settings with their defaults, built once rather than on every request. */
  readonly #redaction: RedactionSettings
  /**
   * True when replay lookups may skip {@link prepare}: nothing rewrites the URL or the body, no
   * hook can declare a request not recordable, no extra matcher reads the request and the key
   * reads only the method and URL, so header filtering and redaction cannot change the outcome.
   */
  readonly #lookupUnprepared: boolean
  /** True when {@link replayExact} may answer: a replaying mode, a store with `findExact`, and {@link #lookupUnprepared}. */
  readonly #exact: boolean
  #dirty = false

  constructor(base: RecordingStore, settings: DVDSettings) {
    this.#base = base
    this.settings = settings
    this.#added = new MemoryStore([], settings.matchOn)
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
    this.#exact = this.#lookupUnprepared && this.#replays() && base.findExact !== undefined
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
   * The replay fast path, for a request given by its dispatch parts (`method` as sent, `origin`,
   * `path`): the response {@link decide} would replay, when the store finds it without a key
   * computed here (it then counts as played). `undefined` means "ask `decide`", which gives the
   * same answer as this would have.
   */
  replayExact(method: string, origin: string, path: string): DVDResponse | undefined {
    if (!this.#exact) return undefined
    const found = this.#base.findExact?.(method, origin, path)
    if (found === undefined) return undefined
    // Played already: decide repeats the last recording of the key, which is this one only when
    // it is the only one, in the file and among this session's recordings alike.
    const repeat = this.settings.allowPlaybackRepeats && found.only && this.#added.count === 0
    if (this.#plays.get(found.id) !== 0 && !repeat) return undefined
    this.#plays.add(found.id)
    return found.response()
  }

  /** Decides what happens to an outgoing request under this DVD's record mode. */
  decide(request: DVDRequest): Decision {
    const { mode, matchOn } = this.settings
    if (mode === 'passthrough') return { kind: 'live' }
    const replays = this.#replays()
    // The replay path: its request's headers are never even turned into pairs (see toDVDRequest).
    const direct = replays && this.#lookupUnprepared ? keyOf(request, matchOn) : undefined
    if (direct !== undefined) {
      const found = this.#find(direct, request)
      if (found) return found
    }
    const prepared = this.prepare(request)
    if (prepared === null) return { kind: 'live' }
    if (!replays) return { kind: 'record', request: prepared }
    const key = direct ?? keyOf(prepared, matchOn)
    const found = direct === undefined ? this.#find(key, prepared) : undefined
    if (found) return found
    if (mode === 'new_episodes') return { kind: 'record', request: prepared }
    const details = this.#unmatchedDetails(new ParsedRequest(prepared), key)
    return {
      kind: 'fail',
      error: mode === 'once' ? new CannotRecordError(details) : new UnmatchedRequestError(details),
    }
  }

  /** The outcome with its secret headers redacted (a recorded error's partial response too). */
  #redactOutcome(outcome: Outcome): Outcome {
    const secrets = this.settings.secretHeaders
    if (!secrets || secrets.size === 0) return outcome
    if (!isRecordedError(outcome)) return redactResponse(outcome, secrets)
    return outcome.partial ? { ...outcome, partial: redactResponse(outcome.partial, secrets) } : outcome
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

  #candidates(key: string, request?: DVDRequest): number[] {
    const base = this.#base.lookup(key, request)
    // Replaying never records: the common case skips hashing the key into an empty index.
    if (this.#added.count === 0) return base as number[]
    const added = this.#added.lookup(key)
    if (added.length === 0) return base as number[]
    return [...base, ...added.map((id) => id + this.#base.count)]
  }

  #passesExtra(recorded: DVDRequest, incoming: DVDRequest): boolean {
    return this.settings.extraMatchers.every((matcher) => matcher(recorded, incoming))
  }

  #find(key: string, incoming: DVDRequest): Decision | undefined {
    let fallback: { id: number; recording: Recording } | undefined
    for (const id of this.#candidates(key, incoming)) {
      const recording = this.get(id)
      if (!this.#passesExtra(recording.request, incoming)) continue
      if (this.#plays.get(id) === 0) {
        this.#plays.add(id)
        return { kind: 'replay', id, recording }
      }
      if (this.settings.allowPlaybackRepeats) fallback = { id, recording }
    }
    if (!fallback) return undefined
    this.#plays.add(fallback.id)
    return { kind: 'replay', ...fallback }
  }

  #unmatchedDetails(incoming: ParsedRequest, key: string): UnmatchedDetails {
    const { matchOn, file, mode } = this.settings
    const sameKey = new Set(this.#candidates(key))
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
