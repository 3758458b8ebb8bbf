/**
 * The loader: opens a DVD file under a record mode, hands the DVD its store and an interceptor,
 * installs it globally when asked, and saves it atomically when it changed and nothing failed.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Dispatcher } from 'undici'
import { writeFileAtomic } from './atomic_write.js'
import { DVD, MemoryStore } from './dvd.js'
import { DVDFormatError, DVDNotFoundError } from './errors.js'
import { parseJson, serializeJson } from './formats/json.js'
import { installGlobal, networkDispatcher, uninstallGlobal } from './install.js'
import { DVDDispatcher } from './intercept.js'
import type { Recording } from './model.js'
import { type DVDOptions, type RecordMode, resolveOptions } from './options.js'

/** File formats a DVD can be stored in. */
export type DVDFormat = 'json' | 'binary'

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

/** The format of a new file, from its name: `*.lz4` is binary, anything else JSON. */
export function formatForPath(file: string): DVDFormat {
  return /\.lz4$/i.test(file) ? 'binary' : 'json'
}

async function readRecordings(file: string): Promise<Recording[] | undefined> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new DVDFormatError(file, '', `cannot read the file (${(cause as Error).message})`, {
      cause,
      code: 'DVD_ERR_IO',
    })
  }
  if (isLz4Skippable(bytes)) {
    throw new DVDFormatError(file, '', 'binary DVDs (.dvd.lz4) are not supported by this version of dvd-rw')
  }
  return parseJson(bytes.toString('utf8'), file)
}

/** Options of {@link LoadedDVD.close}. */
export interface CloseOptions {
  /** Save when there are new recordings (default `true`); pass `false` when the scope failed. */
  save?: boolean
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
  #closed = false

  constructor(file: string, format: DVDFormat, dvd: DVD, dispatcher: Dispatcher) {
    this.file = file
    this.format = format
    this.dvd = dvd
    this.dispatcher = dispatcher
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
  /** Whether {@link close} has run. */
  get closed(): boolean {
    return this.#closed
  }

  /** Makes this DVD answer Node's global `fetch` and `undici` calls until {@link close} or {@link uninstall}. */
  install(): this {
    if (this.#closed) throw new Error(`${this.file}: the DVD is closed`)
    installGlobal(this.dispatcher)
    return this
  }

  /** Restores the global dispatcher this DVD covered. */
  uninstall(): void {
    uninstallGlobal(this.dispatcher)
  }

  /** Writes the DVD to its file now (atomically), whether or not it changed. */
  async save(): Promise<void> {
    if (this.format === 'binary') {
      throw new DVDFormatError(
        this.file,
        '',
        'binary DVDs (.dvd.lz4) are not supported by this version of dvd-rw',
      )
    }
    await writeFileAtomic(this.file, serializeJson(this.dvd.recordings()))
  }

  /**
   * Uninstalls the DVD and saves it if it has new recordings (unless `save: false`). Closing twice
   * does nothing the second time.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.uninstall()
    const mode = this.mode
    if (options.save !== false && this.dirty && mode !== 'none' && mode !== 'passthrough') await this.save()
  }

  /** `await using dvd = await DVDLoader.open(…)` closes (and saves) at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

/** Opens DVD files. */
export const DVDLoader = {
  /**
   * Opens the DVD at `file` (JSON or binary, told apart by content) under the record mode in force.
   * A missing file starts an empty DVD, except in mode `none`, where it is a {@link DVDNotFoundError}.
   */
  async open(file: string, options: DVDOptions = {}): Promise<LoadedDVD> {
    const resolved = resolveOptions(options)
    const path = resolve(file)
    const existing = resolved.mode === 'passthrough' ? undefined : await readRecordings(path)
    if (existing === undefined && resolved.mode === 'none') throw new DVDNotFoundError(path, resolved.mode)
    const recordings = resolved.mode === 'all' ? [] : (existing ?? [])
    const dvd = new DVD(new MemoryStore(recordings, resolved.matchOn), {
      file: path,
      mode: resolved.mode,
      fromFile: existing !== undefined,
      matchOn: resolved.matchOn,
      extraMatchers: resolved.extraMatchers,
      filterHeaders: resolved.filterHeaders,
      beforeRecordRequest: resolved.beforeRecordRequest,
      beforeRecordResponse: resolved.beforeRecordResponse,
      allowPlaybackRepeats: resolved.allowPlaybackRepeats,
    })
    const dispatcher = new DVDDispatcher(dvd, resolved.upstream ?? networkDispatcher())
    return new LoadedDVD(path, formatForPath(path), dvd, dispatcher)
  },

  /**
   * Opens the DVD, installs it globally, runs `fn`, then closes it: saved when `fn` succeeded and
   * something was recorded; left untouched on disk when `fn` threw.
   */
  async use<T>(file: string, options: DVDOptions, fn: (dvd: LoadedDVD) => Promise<T> | T): Promise<T> {
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
  },
}
