/**
 * The loader: opens a DVD file under a record mode, hands the DVD its store and an interceptor,
 * installs it globally when asked, and saves it atomically when it changed and nothing failed.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Dispatcher } from 'undici'
import { writeFileAtomic } from './atomic_write.js'
import {
  DVD,
  MemoryStore,
  type RecordingStore,
  type RunReport,
  UnusedRecordingsError,
  unusedWarning,
} from './dvd.js'
import { type DVDLock, lockDVD } from './dvd_lock.js'
import { DVDFormatError, DVDNotFoundError, InvalidOptionError } from './errors.js'
import { type BinarySource, baseSources, openBinaryStore, writeBinaryAsync } from './formats/binary.js'
import { binarySessionFormat } from './formats/binary_session.js'
import { serializeHar } from './formats/har.js'
import { readHarFile } from './formats/har_stream.js'
import { jsonLayout, parseJson, parseRecordingValue, serializeJson } from './formats/json.js'
import { type SessionFormat, StreamedSession } from './formats/streamed_session.js'
import { textSessionFormat } from './formats/text_session.js'
import { installGlobal, networkDispatcher, uninstallGlobal } from './install.js'
import { interceptNodeHttp, nodeHttpRecorded } from './intercept/node_http.js'
import { DVDDispatcher } from './intercept.js'
import type { MatcherName } from './matchers.js'
import type { Recording } from './model.js'
import {
  checkIntercept,
  type DVDOptions,
  INTERCEPT_TARGETS,
  type InterceptTarget,
  type RecordMode,
  type ResolvedOptions,
  resolveOptions,
} from './options.js'

/** File formats a DVD can be stored in. */
export type DVDFormat = 'json' | 'binary' | 'har'

/** LZ4 skippable-frame magic numbers (0x184D2A50–5F, little-endian): binary DVDs start with one. */
function isLz4Skippable(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    (bytes[0]! & 0xf0) === 0x50 &&
    bytes[1] === 0x2a &&
    bytes[2] === 0x4d &&
    bytes[3] === 0x18
  )
}

/** The format of a new file, from its name: `*.lz4` is binary, `*.har` HAR, anything else JSON. */
export function formatForPath(file: string): DVDFormat {
  return /\.lz4$/i.test(file) ? 'binary' : /\.har$/i.test(file) ? 'har' : 'json'
}

/**
 * A JSON DVD is a JSON array, a HAR file a JSON object: the first byte after a BOM and spaces
 * tells; `undefined` when it is neither.
 */
function textFormat(head: Buffer): DVDFormat | undefined {
  for (const b of head.subarray(head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0)) {
    if (b === 0x5b) return 'json'
    if (b === 0x7b) return 'har'
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return undefined
  }
  return undefined
}

function ioError(file: string, cause: unknown): DVDFormatError {
  return new DVDFormatError(file, '', `cannot read the file (${(cause as Error).message})`, {
    cause,
    code: 'DVD_ERR_IO',
  })
}

/** How many leading bytes a "not a binary DVD" message shows. */
const SHOWN_BYTES = 16

/** How many leading bytes are read to tell the format. */
const HEAD_BYTES = 64

/** What the first bytes of a file look like, for a person: quoted text, or hex. */
export function describeStart(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'it is empty'
  const shown = bytes.subarray(0, SHOWN_BYTES)
  const more = bytes.length > SHOWN_BYTES ? '…' : ''
  const text = Buffer.from(shown).toString('latin1')
  if (/^[\t\n\r\x20-\x7e]*$/.test(text)) {
    const kind = /^\s*[[{]/.test(text) ? 'JSON text' : 'text'
    return `it holds ${kind} starting ${JSON.stringify(text + more)}`
  }
  return `it starts with the bytes ${Buffer.from(shown)
    .toString('hex')
    .replace(/(..)(?=.)/g, '$1 ')}${more}`
}

/**
 * The format of an existing file, from its first bytes; `undefined` when there is no file. A file
 * named `*.lz4` must be binary, unless it holds a JSON array (a JSON DVD under the wrong name):
 * anything else is not a DVD of either kind, and is reported as "not a binary DVD".
 */
export async function detectFormat(file: string): Promise<DVDFormat | undefined> {
  // A few bytes, read synchronously: three round trips through the thread pool would cost more
  // than opening a binary DVD does.
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (cause) {
    // No file there; ENOTDIR: not even its folder (a file stands in the way, which saving reports).
    const code = (cause as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw ioError(file, cause)
  }
  let head: Buffer
  try {
    // Enough for the message about a file that is not a DVD, and for spaces before a JSON text.
    const buffer = Buffer.alloc(HEAD_BYTES)
    head = buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0))
  } catch (cause) {
    throw ioError(file, cause)
  } finally {
    closeSync(fd)
  }
  if (isLz4Skippable(head)) return 'binary'
  const text = textFormat(head)
  if (formatForPath(file) === 'binary' && text !== 'json') {
    throw new DVDFormatError(
      file,
      '',
      `${describeStart(head)}, where a binary DVD starts with the bytes 50 2a 4d 18`,
      { code: 'DVD_ERR_NOT_DVD', headline: 'not a binary DVD' },
    )
  }
  return text ?? 'json'
}

/** Reads a JSON DVD file into recordings. */
export async function readJsonFile(file: string): Promise<Recording[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (cause) {
    throw ioError(file, cause)
  }
  return parseJson(text, file)
}

/** The store for an existing file, in whichever format it is. */
async function openStore(
  file: string,
  format: DVDFormat,
  matchOn: readonly MatcherName[],
  onWarning: ResolvedOptions['onWarning'],
): Promise<RecordingStore> {
  if (format === 'binary') return openBinaryStore(file, matchOn, (line) => onWarning(line, 'DVD_WARN_INDEX'))
  const recordings =
    format === 'har'
      ? await readHarFile(file, (line) => onWarning(line, 'DVD_WARN_HAR_SKIPPED'))
      : await readJsonFile(file)
  return new MemoryStore(recordings, matchOn)
}

/** How the recordings of a session are written to `file` as they are made, when they are. */
function streamedFormat(
  file: string,
  format: DVDFormat,
  matchOn: readonly MatcherName[],
  decodeCompressed: boolean,
): SessionFormat | undefined {
  if (format === 'binary') return binarySessionFormat(file, matchOn)
  if (format !== 'json') return undefined
  const parse = (value: unknown, index: number) => parseRecordingValue(value, index, file)
  return textSessionFormat(file, jsonLayout({ decodeCompressed }), parse, matchOn)
}

/** Options of {@link LoadedDVD.close}. */
export interface CloseOptions {
  /**
   * Save when there are new recordings (default `true`); pass `false` when the scope failed, which
   * also skips the check for recordings never played (a failed run leaves some unplayed).
   */
  save?: boolean
}

/** What {@link LoadedDVD} does at save and close time, beyond the DVD's own settings. */
export type CloseSettings = Pick<
  ResolvedOptions,
  'onWarning' | 'allowUnused' | 'dropUnused' | 'decodeCompressed'
> & {
  /** What {@link LoadedDVD.install} covers when not told (the `intercept` option). */
  intercept?: readonly InterceptTarget[]
}

const CLOSE_DEFAULTS: CloseSettings = {
  onWarning: () => {},
  allowUnused: true,
  dropUnused: false,
  decodeCompressed: false,
}

/** Options of {@link LoadedDVD.install}. */
export interface InstallOptions {
  /**
   * What the DVD answers while installed: `fetch` (Node's global fetch and undici's global
   * dispatcher) and `http` (`node:http`/`node:https` and the clients built on them: axios, got,
   * node-fetch 2, superagent, the AWS SDK…). Default: the DVD's `intercept` option, itself
   * `['fetch', 'http']` by default.
   */
  intercept?: readonly InterceptTarget[]
}

/** An open DVD: its recordings, its dispatcher, and its file. */
export class LoadedDVD {
  /** Absolute path of the DVD file. */
  readonly file: string
  /** The format the DVD is saved in. */
  readonly format: DVDFormat
  /** The recordings, index and play counts. */
  readonly dvd: DVD
  /**
   * The dispatcher serving this DVD, for `fetch(url, { dispatcher })` or
   * `undici.request(url, { dispatcher })`; needs no global state, so DVDs can run concurrently.
   */
  readonly dispatcher: Dispatcher
  readonly #close: CloseSettings
  /** Where the new recordings are being written, when they are written as they are made. */
  readonly #session: StreamedSession | undefined
  readonly #lock: DVDLock | undefined
  #closed = false
  /** Ends this DVD's `node:http` interception, while installed for it. */
  #releaseHttp: (() => void) | undefined

  constructor(
    file: string,
    format: DVDFormat,
    dvd: DVD,
    dispatcher: Dispatcher,
    closeSettings: CloseSettings = CLOSE_DEFAULTS,
    session?: StreamedSession,
    /** The file's writer lock, given back at close. */
    lock?: DVDLock,
  ) {
    this.file = file
    this.format = format
    this.dvd = dvd
    this.dispatcher = dispatcher
    this.#close = closeSettings
    this.#session = session
    this.#lock = lock
  }

  /** The record mode in force (after `DVD_RECORD_MODE` and `CI`). */
  get mode(): RecordMode {
    return this.dvd.settings.mode
  }
  /** Whether recordings were loaded from an existing file. */
  get fromFile(): boolean {
    return this.dvd.fromFile
  }
  /** Whether there are recordings not yet saved. */
  get dirty(): boolean {
    return this.dvd.dirty
  }
  /** Number of recordings. */
  get count(): number {
    return this.dvd.count
  }
  /** Total number of replays served. */
  get playCount(): number {
    return this.dvd.playCount
  }
  /** True when every recording was played (or recorded) in this session. */
  get allPlayed(): boolean {
    return this.dvd.allPlayed
  }
  /** Recordings that were never played. */
  unplayed(): Recording[] {
    return this.dvd.unplayed()
  }
  /**
   * What this run did with each recording, JSON-serializable:
   * `{ file, mode, recordings: [{ index, method, url, played }] }`. Reads every recording's request.
   */
  report(): RunReport {
    return this.dvd.report()
  }
  /** Whether {@link close} has run. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Node's global `fetch` through this DVD's dispatcher, with no global state. The same as
   * `fetch(input, { ...init, dispatcher: dvd.dispatcher })`, without the type clash between the
   * undici package's `Dispatcher` and the one in Node's own typings.
   */
  fetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    return globalThis.fetch(input, { ...init, dispatcher: this.dispatcher } as unknown as RequestInit)
  }

  /**
   * Makes this DVD answer Node's global `fetch` and `undici` calls, and `node:http`/`node:https`
   * requests made in the calling async context (or outside any other DVD's), until {@link close}
   * or {@link uninstall}.
   */
  install(options: InstallOptions = {}): this {
    if (this.#closed) throw new Error(`${this.file}: the DVD is closed`)
    if (options === null || typeof options !== 'object')
      throw new InvalidOptionError('install() options must be an object')
    const targets =
      options.intercept === undefined
        ? (this.#close.intercept ?? INTERCEPT_TARGETS)
        : checkIntercept(options.intercept, 'install({ intercept })')
    if (targets.includes('fetch')) installGlobal(this.dispatcher)
    if (targets.includes('http')) this.#releaseHttp ??= interceptNodeHttp(this.dvd)
    return this
  }

  /** Restores the global dispatcher this DVD covered and ends its `node:http` interception. */
  uninstall(): void {
    uninstallGlobal(this.dispatcher)
    this.#releaseHttp?.()
    this.#releaseHttp = undefined
  }

  /**
   * Writes the DVD to its file now (atomically), whether or not it changed. With `dropUnused`,
   * recordings not played so far are left out.
   */
  async save(): Promise<void> {
    const dvd = this.dvd
    const keep = this.#close.dropUnused ? (id: number) => dvd.plays(id) > 0 : () => true
    function* kept() {
      for (let id = 0; id < dvd.count; id++) if (keep(id)) yield dvd.get(id)
    }
    const decodeCompressed = this.#close.decodeCompressed
    if (this.format === 'har') return writeFileAtomic(this.file, serializeHar(kept(), { decodeCompressed }))
    if (this.format === 'json') {
      return writeFileAtomic(this.file, serializeJson(kept(), { decodeCompressed }))
    }
    const base = dvd.base
    function* sources(): Generator<BinarySource> {
      yield* baseSources(base, keep)
      for (let id = base.count; id < dvd.count; id++) {
        if (keep(id)) yield { kind: 'recording', recording: dvd.get(id) }
      }
    }
    await writeBinaryAsync(this.file, sources(), dvd.settings.matchOn)
  }

  /**
   * Uninstalls the DVD and saves it if it has new recordings (unless `save: false`), then reports
   * recordings never played: a warning through `onWarning`, or an {@link UnusedRecordingsError}
   * with `allowUnused: false`. With `dropUnused` in mode `new_episodes`, unplayed recordings are
   * pruned from the file (saving even when nothing new was recorded). Closing twice does nothing the
   * second time.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.uninstall()
    const session = this.#session
    if (options.save === false) {
      session?.abort()
      return this.#lock?.release()
    }
    const mode = this.mode
    let unused = 0
    let prune = false
    try {
      await nodeHttpRecorded(this.dvd)
      unused = this.dvd.unplayedCount
      prune = this.#close.dropUnused && mode === 'new_episodes' && unused > 0
      // A binary file stays mapped after close so recordings can still be inspected; the mapping is
      // released when the DVD is garbage-collected.
      if ((this.dirty || prune) && mode !== 'none' && mode !== 'passthrough') {
        // The recordings are in the temporary file already: only the index is left to write.
        if (session?.complete && !prune) await session.finish()
        else {
          try {
            await this.save()
          } finally {
            session?.abort()
          }
        }
      }
    } finally {
      this.#lock?.release()
    }
    if (unused === 0) return
    const sample = this.dvd.unusedSample()
    if (!this.#close.allowUnused) throw new UnusedRecordingsError(this.file, unused, sample, prune)
    this.#close.onWarning(unusedWarning(this.file, unused, sample, prune), 'DVD_WARN_UNUSED')
  }

  /** `await using dvd = await DVDLoader.open(…)` closes (and saves) at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

/** Opens DVD files. */
export const DVDLoader = {
  /**
   * Opens the DVD at `file` (JSON, binary or HAR, told apart by content) under the record mode in force.
   * A missing file starts an empty DVD, except in mode `none`, where it is a {@link DVDNotFoundError}.
   */
  async open(file: string, options: DVDOptions = {}): Promise<LoadedDVD> {
    const resolved = resolveOptions(options)
    const path = resolve(file)
    const { mode, matchOn } = resolved
    const existing = mode === 'passthrough' ? undefined : await detectFormat(path)
    if (existing === undefined && mode === 'none')
      throw new DVDNotFoundError(path, mode, { fromCI: resolved.modeFromCI })
    // A DVD that may be saved has one writer: a second one would drop the first one's recordings.
    const writes = mode === 'all' || mode === 'new_episodes' || (mode === 'once' && existing === undefined)
    const lock = writes ? lockDVD(path) : undefined
    // Mode `all` re-records from scratch: the old file is never read, so even a damaged one is replaced.
    let store: RecordingStore
    try {
      store =
        existing === undefined || mode === 'all'
          ? new MemoryStore([], matchOn)
          : await openStore(path, existing, matchOn, resolved.onWarning)
    } catch (error) {
      lock?.release()
      throw error
    }
    const format = existing !== undefined && mode !== 'all' ? existing : formatForPath(path)
    // New recordings go to disk as they are made (HAR DVDs: at close). With dropUnused the file's
    // own recordings are copied only at close, once it is known which were played.
    const sessionFormat = streamedFormat(path, format, matchOn, resolved.decodeCompressed)
    const session =
      sessionFormat && (mode === 'all' || mode === 'once' || mode === 'new_episodes')
        ? new StreamedSession(
            path,
            matchOn,
            store,
            { lookups: mode === 'new_episodes', copyBase: !resolved.dropUnused },
            sessionFormat,
          )
        : undefined
    const dvd = new DVD(
      store,
      {
        file: path,
        mode,
        fromFile: existing !== undefined,
        matchOn: resolved.matchOn,
        extraMatchers: resolved.extraMatchers,
        filterHeaders: resolved.filterHeaders,
        beforeRecordRequest: resolved.beforeRecordRequest,
        beforeRecordResponse: resolved.beforeRecordResponse,
        allowPlaybackRepeats: resolved.allowPlaybackRepeats,
        secretHeaders: resolved.secretHeaders,
        filterQueryParameters: resolved.filterQueryParameters,
        filterPostDataParameters: resolved.filterPostDataParameters,
        timing: resolved.timing,
        responseBodyRules: resolved.responseBodyRules,
      },
      session,
    )
    const dispatcher = new DVDDispatcher(dvd, resolved.upstream ?? networkDispatcher())
    return new LoadedDVD(
      path,
      format,
      dvd,
      dispatcher,
      {
        onWarning: resolved.onWarning,
        allowUnused: resolved.allowUnused,
        dropUnused: resolved.dropUnused,
        decodeCompressed: resolved.decodeCompressed,
        intercept: resolved.intercept,
      },
      session,
      lock,
    )
  },

  /**
   * Opens the DVD, installs it globally, runs `fn`, then closes it: saved when `fn` succeeded and
   * something was recorded; left untouched on disk when `fn` threw. `options` may be left out.
   */
  use: useDVD,
}

/** The function a scoped DVD runs. */
export type DVDScope<T> = (dvd: LoadedDVD) => Promise<T> | T

function useDVD<T>(file: string, fn: DVDScope<T>): Promise<T>
function useDVD<T>(file: string, options: DVDOptions, fn: DVDScope<T>): Promise<T>
async function useDVD<T>(
  file: string,
  optionsOrFn: DVDOptions | DVDScope<T>,
  maybeFn?: DVDScope<T>,
): Promise<T> {
  const [options, fn] = typeof optionsOrFn === 'function' ? [{}, optionsOrFn] : [optionsOrFn, maybeFn]
  if (typeof fn !== 'function')
    throw new InvalidOptionError('DVDLoader.use(file, [options], fn): fn must be a function')
  const dvd = await DVDLoader.open(file, options)
  dvd.install()
  let result: T
  try {
    result = await fn(dvd)
  } catch (error) {
    await dvd.close({ save: false })
    throw error
  }
  await dvd.close()
  return result
}
