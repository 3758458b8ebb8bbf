/**
 * The recordings of a session written to the new DVD file as they are made, whatever its format:
 * each one goes to the file's temporary file as soon as its interaction completes, and `close()`
 * only ends the file and renames it. Memory keeps where each recording is in the temporary file
 * (and, in a mode that replays them, an index of their keys); a recording a later request needs (a
 * repeat, a report, an extra matcher) is read back from there.
 */
import type { Candidate, Query, RecordingStore, SessionStore } from '../dvd.js'
import { DVDError, DVDSaveError } from '../errors.js'
import { keyOf, type MatcherName } from '../matchers.js'
import type { Recording } from '../model.js'
import { choose, type PlayCounts } from '../play_counts.js'

/** Options of a {@link StreamedSession}. */
export interface StreamedSessionOptions {
  /** Whether the session's recordings are looked up (a mode that replays and records). */
  lookups: boolean
  /**
   * Whether the file's own recordings go into the new file first, when the first recording is
   * made; otherwise the file is written again at close (see {@link StreamedSession.complete}).
   */
  copyBase: boolean
}

/** The temporary file a {@link StreamedSession} writes, in one format. */
export interface SessionFile {
  /** Appends a recording of the DVD (the file's own ones first when they are copied). */
  add(recording: Recording): void
  /** Appends the file's own recordings (before any recording of the session). */
  copy(base: RecordingStore): void
  /** Ids in the file of the recordings whose key may equal `key` (candidates), in order. */
  lookup(key: string): Iterable<number>
  /** The recording with this id in the file, read back (from the DVD file once finished). */
  read(id: number): Recording
  /** Ends the file and renames it over the DVD file. */
  finish(): void | Promise<void>
  /** Deletes the temporary file. */
  abort(): void
}

/** Makes the temporary file of a session; `lookups`: its recordings will be looked up by key. */
export type SessionFormat = (lookups: boolean) => SessionFile

export class StreamedSession implements SessionStore {
  readonly #file: string
  readonly #matchOn: readonly MatcherName[]
  readonly #base: RecordingStore
  readonly #options: StreamedSessionOptions
  readonly #format: SessionFormat
  #sink: SessionFile | undefined
  #finished = false
  #count = 0
  /** Why the recordings cannot be read or saved; thrown when they are. */
  #failure: DVDError | undefined

  constructor(
    file: string,
    matchOn: readonly MatcherName[],
    base: RecordingStore,
    options: StreamedSessionOptions,
    format: SessionFormat,
  ) {
    this.#file = file
    this.#matchOn = matchOn
    this.#base = base
    this.#options = options
    this.#format = format
  }

  get count(): number {
    return this.#count
  }

  /** Whether the temporary file holds every recording of the DVD, so that {@link finish} saves it. */
  get complete(): boolean {
    return this.#sink !== undefined && !this.#finished && this.#holdsBase()
  }

  #holdsBase(): boolean {
    return this.#options.copyBase || this.#base.count === 0
  }

  /** The id a recording of this session has in the temporary file. */
  #fileId(id: number): number {
    return this.#holdsBase() ? this.#base.count + id : id
  }

  add(recording: Recording): number {
    const id = this.#count++
    if (this.#failure) return id
    // A failure to write is the save's failure: the request that was recorded still gets its answer.
    try {
      if (this.#finished) throw new Error('the DVD was saved and closed already')
      if (!this.#sink) this.#sink = this.#start()
      this.#sink.add(recording)
    } catch (error) {
      this.#failure =
        error instanceof DVDError ? error : new DVDSaveError(this.#file, error, 'cannot write it')
      this.abort()
    }
    return id
  }

  #start(): SessionFile {
    const sink = this.#format(this.#options.lookups)
    try {
      if (this.#options.copyBase) sink.copy(this.#base)
    } catch (error) {
      sink.abort()
      throw error
    }
    return sink
  }

  find(query: Query, from: number, plays: PlayCounts | null): Candidate | undefined {
    const ids = this.#lookup(query.key())
    const first = this.#base.count
    const position = ids.length > 0 ? choose({ ids, firstUnplayed: 0 }, from, plays, first) : -1
    if (position < 0) return undefined
    const id = ids[position]!
    let recording: Recording | undefined
    const read = () => {
      recording ??= this.get(id)
      return recording
    }
    return { id: first + id, position, request: () => read().request, outcome: () => read().outcome }
  }

  /** Ids of the session's recordings whose key is `key`, in order. */
  #lookup(key: string): number[] {
    const sink = this.#sink
    if (!sink || this.#finished || !this.#options.lookups) return []
    const first = this.#fileId(0)
    const ids: number[] = []
    // Candidates share a key hash, or are all the session's recordings: compare their own keys.
    for (const fileId of sink.lookup(key)) {
      if (fileId < first) continue
      if (keyOf(this.get(fileId - first).request, this.#matchOn) === key) ids.push(fileId - first)
    }
    return ids
  }

  get(id: number): Recording {
    if (this.#failure) throw this.#failure
    if (!(id >= 0 && id < this.#count) || !this.#sink) throw new RangeError(`no recording #${id}`)
    return this.#sink.read(this.#fileId(id))
  }

  /**
   * Ends the temporary file and renames it over the DVD file: the save, when the session is
   * {@link complete}. Recordings are read from the saved file afterwards.
   */
  async finish(): Promise<void> {
    if (this.#failure) throw this.#failure
    const sink = this.#sink
    if (!sink || !this.complete) throw new Error('the session holds only part of the DVD')
    this.#finished = true
    await sink.finish()
  }

  /** Deletes the temporary file (the session is not saved, or saved another way). */
  abort(): void {
    const sink = this.#sink
    if (!sink || this.#finished) return
    this.#sink = undefined
    sink.abort()
    this.#failure ??= new DVDError(
      'DVD_ERR_CLOSED',
      `${this.#file}: the recordings made in this session are no longer readable from the DVD (it was closed without saving them, or saved without its temporary file)`,
    )
  }
}
