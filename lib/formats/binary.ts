/**
 * Binary DVDs (`*.dvd.lz4`): records as MessagePack maps (the JSON model's fields, bodies as raw
 * binary), stored and indexed by the native addon (or read by the TypeScript fallback). This file
 * owns the MessagePack side: encoding records and match fields, and the store the DVD looks up in.
 */
import { markAsUntransferable } from 'node:worker_threads'
import { Packr, Unpackr } from 'msgpackr'
import type { ExactMatch, RecordingStore } from '../dvd.js'
import { DVDError, DVDFormatError, DVDSaveError } from '../errors.js'
import { keyOf, MATCHERS, type MatcherName, matcherValue, ParsedRequest } from '../matchers.js'
import type { DVDRequest, DVDResponse, HeaderPair, Outcome, RecordedError, Recording } from '../model.js'
import { bodyChunks, isRecordedError } from '../model.js'
import {
  asFormatError,
  type BinaryReader,
  type BinaryWriter,
  createBinaryWriter,
  openBinaryReader,
} from '../native.js'
import { chunksFromBytes, chunksToBytes } from './body_chunks.js'
import { EXACT_NO_ROOM, exactId, exactOnly, lookupCount, lookupLength, NO_ROOM } from './packed_lookup.js'
import {
  clearLayout,
  hasLayout,
  newLayout,
  recordingFromLayout,
  responseFromLayout,
} from './record_layout.js'

// Plain MessagePack maps and arrays (no msgpackr record extension), so any MessagePack reader
// decodes `lz4 -dc file.dvd.lz4`.
const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

type Obj = Record<string, unknown>

function requestObject(request: DVDRequest): Obj {
  const o: Obj = { method: request.method, url: request.url, headers: request.headers }
  if (request.body && request.body.length > 0) o.body = request.body
  return o
}

function responseObject(response: DVDResponse): Obj {
  const o: Obj = { status: response.status, headers: response.headers, body: response.body }
  if (response.statusText !== undefined) o.reason = response.statusText
  if (response.bodyDecoded) o.body_decoded = true
  const chunks = bodyChunks(response)
  if (chunks) o.chunks = chunksToBytes(chunks)
  return o
}

function errorObject(error: RecordedError): Obj {
  const o: Obj = { class: error.errorClass, name: error.name, message: error.message }
  if (error.code !== undefined) o.code = error.code
  if (error.details) o.details = error.details
  if (error.elapsedMs !== undefined) o.elapsed_ms = error.elapsedMs
  if (error.pythonType !== undefined) o.exc_type = error.pythonType
  if (error.partial) o.partial = responseObject(error.partial)
  return o
}

/** One recording as the MessagePack bytes stored in a binary DVD. */
export function encodeRecording(recording: Recording): Buffer {
  const { outcome } = recording
  return packr.pack({
    request: requestObject(recording.request),
    ...(isRecordedError(outcome) ? { error: errorObject(outcome) } : { response: responseObject(outcome) }),
  })
}

/** Checks the shape of decoded records; a file with valid checksums can still hold nonsense. */
class Shape {
  constructor(
    readonly file: string,
    /** What is decoded (`record`, `match fields`), named in messages with `id`. */
    readonly what: string,
    readonly id: number,
  ) {}
  fail(path: string, problem: string): never {
    throw new DVDFormatError(this.file, `${this.what} #${this.id}${path}`, problem)
  }
  obj(v: unknown, path: string): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
      this.fail(path, 'expected a map')
    }
    return v as Obj
  }
  str(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, 'expected a string')
    return v
  }
  bytes(v: unknown, path: string): Buffer | null {
    if (v === null || v === undefined) return null
    if (!(v instanceof Uint8Array)) this.fail(path, 'expected binary')
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  }
  headers(v: unknown, path: string): HeaderPair[] {
    if (!Array.isArray(v)) this.fail(path, 'expected a list of [name, value] pairs')
    for (let i = 0; i < v.length; i++) {
      const pair: unknown = v[i]
      if (
        !Array.isArray(pair) ||
        pair.length !== 2 ||
        typeof pair[0] !== 'string' ||
        typeof pair[1] !== 'string'
      ) {
        this.fail(`${path}[${i}]`, 'expected a [name, value] pair of strings')
      }
    }
    return v as HeaderPair[]
  }
  request(v: unknown): DVDRequest {
    const o = this.obj(v, '.request')
    const request: DVDRequest = {
      method: this.str(o.method, '.request.method'),
      url: this.str(o.url, '.request.url'),
      headers: this.headers(o.headers, '.request.headers'),
    }
    const body = this.bytes(o.body, '.request.body')
    if (body) request.body = body
    return request
  }
  response(v: unknown, path: string): DVDResponse {
    const o = this.obj(v, path)
    if (typeof o.status !== 'number' || !Number.isInteger(o.status))
      this.fail(`${path}.status`, 'expected an integer')
    const response: DVDResponse = {
      status: o.status,
      headers: this.headers(o.headers, `${path}.headers`),
      body: this.bytes(o.body, `${path}.body`),
    }
    if (o.reason !== undefined) response.statusText = this.str(o.reason, `${path}.reason`)
    if (o.body_decoded === true) response.bodyDecoded = true
    if (o.chunks !== undefined) {
      const bytes = this.bytes(o.chunks, `${path}.chunks`)
      const chunks = chunksFromBytes(bytes ?? new Uint8Array(0), response.body?.length ?? 0)
      if (typeof chunks === 'string') this.fail(`${path}.chunks`, chunks)
      response.chunks = chunks
    }
    return response
  }
  error(v: unknown): RecordedError {
    const o = this.obj(v, '.error')
    const error: RecordedError = {
      errorClass: this.str(o.class, '.error.class'),
      name: this.str(o.name, '.error.name'),
      message: this.str(o.message, '.error.message'),
    }
    if (o.code !== undefined) error.code = this.str(o.code, '.error.code')
    if (o.details !== undefined)
      error.details = this.obj(o.details, '.error.details') as Record<string, string | number>
    if (typeof o.elapsed_ms === 'number') error.elapsedMs = o.elapsed_ms
    if (o.exc_type !== undefined) error.pythonType = this.str(o.exc_type, '.error.exc_type')
    if (o.partial !== undefined) error.partial = this.response(o.partial, '.error.partial')
    return error
  }
}

/**
 * Decodes and checks one record's MessagePack bytes. Binary values (bodies) are views into `bytes`,
 * which must therefore never be written again.
 */
export function decodeRecording(bytes: Buffer, file: string, id: number): Recording {
  const shape = new Shape(file, 'record', id)
  let value: unknown
  try {
    value = unpackr.unpack(bytes)
  } catch (cause) {
    throw new DVDFormatError(file, `record #${id}`, `invalid MessagePack (${(cause as Error).message})`, {
      cause,
    })
  }
  const o = shape.obj(value, '')
  const request = shape.request(o.request)
  const outcome: Outcome =
    o.error !== undefined ? shape.error(o.error) : shape.response(o.response, '.response')
  return { request, outcome }
}

/**
 * The canonical value of every matcher for a request, stored beside each record so an index for
 * another `matchOn` can be built without decompressing a single record.
 */
function allMatchFields(parsed: ParsedRequest): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const name of MATCHERS) fields[name] = matcherValue(name, parsed)
  return fields
}

/**
 * The index key for `matchOn` from the values of every matcher: the same text as `requestKey`
 * gives, without computing a matcher twice.
 */
function keyOfFields(fields: Record<string, unknown>, matchOn: readonly MatcherName[]): string {
  return JSON.stringify(matchOn.map((name) => fields[name]))
}

/** The index key of a record from its stored match fields. */
function keyFromFields(bytes: Buffer, matchOn: readonly MatcherName[], file: string, id: number): string {
  return keyOfFields(new Shape(file, 'match fields', id).obj(unpackr.unpack(bytes), ''), matchOn)
}

/**
 * True when two requests agree on every input the `matchOn` matchers read (method and URL, plus
 * headers and body when matched on): then their keys are equal, and the costlier key
 * comparison can be skipped.
 */
function sameKeyInputs(a: DVDRequest, b: DVDRequest, headers: boolean, body: boolean): boolean {
  if (a.method !== b.method || a.url !== b.url) return false
  if (headers) {
    if (a.headers.length !== b.headers.length) return false
    for (let i = 0; i < a.headers.length; i++) {
      const x = a.headers[i]!
      const y = b.headers[i]!
      if (x[0] !== y[0] || x[1] !== y[1]) return false
    }
  }
  if (!body) return true
  const ab = a.body ?? null
  const bb = b.body ?? null
  if (!ab || ab.length === 0 || !bb || bb.length === 0) return (ab?.length ?? 0) === (bb?.length ?? 0)
  return Buffer.from(ab.buffer, ab.byteOffset, ab.byteLength).equals(bb)
}

/** Closes a reader once the store holding it is garbage-collected. */
const readers = new FinalizationRegistry<BinaryReader>((reader) => {
  try {
    reader.close()
  } catch {
    // Already closed.
  }
})

/** How many decoded candidates a store keeps, so a lookup and the read that follows decode once. */
const DECODED_CACHE = 4

/**
 * Records are decompressed one after another into slabs of this size, and their binary values
 * (bodies) stay views into the slab: no Buffer allocated and no body copied per replayed record.
 * A slab is garbage once no body decoded from it is referenced any more.
 */
const SLAB_BYTES = 64 * 1024

/**
 * A slab for {@link SLAB_BYTES}. Marked untransferable, as Node's own Buffer pool is: a consumer
 * cannot transfer (detach) a replayed body's ArrayBuffer, which would take the bytes of the other
 * bodies sharing the slab with it (`postMessage` throws on Node 21+, ignores it on Node 20). As
 * with the pool, a body kept alive keeps its whole slab alive.
 */
function newSlab(bytes: number): Buffer {
  const slab = Buffer.allocUnsafeSlow(bytes)
  markAsUntransferable(slab.buffer)
  return slab
}

/** A record the fast path found, its response read from the buffer it was decompressed into. */
class ExactRecord implements ExactMatch {
  constructor(
    readonly id: number,
    readonly only: boolean,
    readonly bytes: Buffer,
    readonly layout: Uint32Array,
  ) {}

  response(): DVDResponse {
    return responseFromLayout(this.bytes, 0, this.layout)
  }
}

/** A DVD store backed by an open binary file. */
export class BinaryStore implements RecordingStore {
  readonly reader: BinaryReader
  readonly file: string
  readonly #matchOn: readonly MatcherName[]
  /** In-memory index, built only when the file's index was made for another `matchOn`. */
  readonly #rebuilt: Map<string, number[]> | undefined
  /**
   * The last {@link DECODED_CACHE} records decoded, by id (-1: empty slot), replaced in turn: a
   * Map here would rehash, and be cleared, every few replays.
   */
  readonly #cachedIds: number[] = new Array(DECODED_CACHE).fill(-1)
  readonly #cached: (Recording | undefined)[] = new Array(DECODED_CACHE).fill(undefined)
  #nextSlot = 0
  readonly #count: number
  /** Whether the key depends on the headers / the body (see sameKeyInputs). */
  readonly #keyHeaders: boolean
  readonly #keyBody: boolean
  #slab = newSlab(SLAB_BYTES)
  /** Where the fast path decompresses records; nothing handed out refers to it. */
  readonly #scratch = Buffer.allocUnsafeSlow(SLAB_BYTES)
  /** Bytes of the slab already handed out (never written again). */
  #slabUsed = 0
  #ids = new Uint32Array(64)
  /** Where the native reader lays out the record a lookup decompressed (see record_layout.ts). */
  readonly #layout = newLayout()

  constructor(
    reader: BinaryReader,
    file: string,
    matchOn: readonly MatcherName[],
    warn: (line: string) => void,
  ) {
    this.reader = reader
    this.file = file
    this.#matchOn = matchOn
    this.#count = reader.count
    this.#keyHeaders = matchOn.includes('headers')
    this.#keyBody = matchOn.includes('body') || matchOn.includes('json_body')
    readers.register(this, reader, this)
    if (reader.matchOn !== matchOn.join(',')) {
      warn(
        `dvd-rw: ${file} is indexed for match_on=${reader.matchOn}, not ${matchOn.join(',')}; ` +
          `building an index in memory (dvd-convert reindex ${file} --match-on ${matchOn.join(',')} makes it permanent)`,
      )
      this.#rebuilt = this.#buildIndex()
    }
  }

  get count(): number {
    return this.#count
  }

  lookup(key: string, request?: DVDRequest): readonly number[] {
    if (this.#rebuilt) return this.#rebuilt.get(key) ?? []
    let count: number
    try {
      // One call finds the candidates and decompresses the first, which is nearly always the one.
      const layout = clearLayout(this.#layout)
      const packed = this.reader.lookupFirstInto(key, this.#ids, this.#slab, this.#slabUsed, layout)
      if (packed < 0) {
        this.#ids = new Uint32Array(-packed)
        count = this.reader.lookupInto(key, this.#ids)
      } else {
        count = lookupCount(packed)
        const length = lookupLength(packed)
        // A record that did not fit in the slab is read by get() below, into a new slab.
        if (count > 0 && length !== NO_ROOM) this.#decodeFromSlab(this.#ids[0]!, length)
      }
    } catch (error) {
      throw asFormatError(this.file, error)
    }
    // The file's index is keyed by a 64-bit hash: keep only candidates whose own key is equal.
    const matching: number[] = []
    for (let i = 0; i < count; i++) {
      const id = this.#ids[i]!
      const recorded = this.get(id).request
      if (
        (request && sameKeyInputs(recorded, request, this.#keyHeaders, this.#keyBody)) ||
        keyOf(recorded, this.#matchOn) === key
      ) {
        matching.push(id)
      }
    }
    return matching
  }

  findExact(method: string, origin: string, path: string): ExactMatch | undefined {
    // The TypeScript reader has no fast path; an index rebuilt in memory serves another matchOn.
    const reader = this.reader
    if (this.#rebuilt || !reader.lookupRequestInto) return undefined
    const layout = this.#layout
    // The record is decompressed into a scratch buffer used again by the next lookup, and only its
    // response body is copied out: a body of its own dies young with its response, where slabs
    // shared by many bodies outlive a few scavenges and wait for a full garbage collection, which
    // grew the resident set by tens of MB over a long replay.
    let scratch = this.#scratch
    let found: number
    try {
      found = reader.lookupRequestInto(method, origin, path, scratch, 0, layout)
      if (found <= EXACT_NO_ROOM) {
        // A record larger than the scratch buffer gets a buffer of its own, not kept.
        scratch = Buffer.allocUnsafeSlow(EXACT_NO_ROOM - found)
        found = reader.lookupRequestInto(method, origin, path, scratch, 0, layout)
      }
    } catch (error) {
      throw asFormatError(this.file, error)
    }
    if (found < 0) return undefined
    return new ExactRecord(exactId(found), exactOnly(found), scratch, layout)
  }

  get(id: number): Recording {
    const slot = this.#cachedIds.indexOf(id)
    if (slot !== -1) return this.#cached[slot]!
    let length: number
    try {
      length = this.reader.recordInto(id, this.#slab, this.#slabUsed, clearLayout(this.#layout))
      if (length < 0) {
        // The slab is full: start a new one (the old one lives on in the bodies decoded from it).
        this.#slab = newSlab(Math.max(SLAB_BYTES, -length))
        this.#slabUsed = 0
        length = this.reader.recordInto(id, this.#slab, 0, clearLayout(this.#layout))
        // Only a file changed under the reader asks for more room twice; never let a negative
        // length move the slab's free end back over bodies already handed out.
        if (length < 0) throw new Error(`DVD_ERR_CORRUPT: record ${id} changed size between two reads`)
      }
    } catch (error) {
      throw asFormatError(this.file, error)
    }
    return this.#decodeFromSlab(id, length)
  }

  /**
   * Decodes record `id`, just written at the free end of the slab (from its layout when the reader
   * made one in the same call), and keeps it in the cache.
   */
  #decodeFromSlab(id: number, length: number): Recording {
    const start = this.#slabUsed
    this.#slabUsed += length
    const recording = hasLayout(this.#layout)
      ? recordingFromLayout(this.#slab, start, this.#layout)
      : decodeRecording(this.#slab.subarray(start, start + length), this.file, id)
    const slot = this.#nextSlot
    this.#nextSlot = (slot + 1) % DECODED_CACHE
    this.#cachedIds[slot] = id
    this.#cached[slot] = recording
    return recording
  }

  /** The stored MessagePack bytes of a record, for copying into a new file without decoding. */
  rawRecord(id: number): Buffer {
    return this.#call(() => this.reader.record(id))
  }

  /** The stored match fields of a record. */
  rawMatchFields(id: number): Buffer {
    return this.#call(() => this.reader.matchFields(id))
  }

  /** Releases the file now rather than when the store is garbage-collected. */
  close(): void {
    readers.unregister(this)
    this.reader.close()
  }

  #buildIndex(): Map<string, number[]> {
    const index = new Map<string, number[]>()
    for (let id = 0; id < this.reader.count; id++) {
      const key = keyFromFields(
        this.#call(() => this.reader.matchFields(id)),
        this.#matchOn,
        this.file,
        id,
      )
      const bucket = index.get(key)
      if (bucket) bucket.push(id)
      else index.set(key, [id])
    }
    return index
  }

  #call<T>(fn: () => T): T {
    try {
      return fn()
    } catch (error) {
      throw asFormatError(this.file, error)
    }
  }
}

/** Opens a binary DVD as a store for the given `matchOn`. */
export function openBinaryStore(
  file: string,
  matchOn: readonly MatcherName[],
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): BinaryStore {
  const reader = openBinaryReader(file)
  try {
    return new BinaryStore(reader, file, matchOn, warn)
  } catch (error) {
    reader.close()
    throw error
  }
}

/** What a binary writer is fed: decoded recordings, or raw records copied from another binary file. */
export type BinarySource =
  | { kind: 'recording'; recording: Recording }
  | { kind: 'raw'; record: Buffer; matchFields: Buffer }

/**
 * Writes a binary DVD record by record: the addon compresses each one into a temporary file as it
 * is added, and `finish()` writes the index and renames the file over the target (atomic).
 */
export class BinaryDVDWriter {
  readonly #writer: BinaryWriter
  readonly #file: string
  readonly #matchOn: readonly MatcherName[]
  #count = 0

  constructor(file: string, matchOn: readonly MatcherName[]) {
    this.#writer = createBinaryWriter(file, matchOn.join(','))
    this.#file = file
    this.#matchOn = matchOn
  }

  /** Records added so far. */
  get count(): number {
    return this.#count
  }

  add(source: BinarySource): void {
    let record: Buffer
    let key: string
    let matchFields: Buffer
    if (source.kind === 'recording') {
      const fields = allMatchFields(new ParsedRequest(source.recording.request))
      record = encodeRecording(source.recording)
      key = keyOfFields(fields, this.#matchOn)
      matchFields = packr.pack(fields)
    } else {
      key = keyFromFields(source.matchFields, this.#matchOn, this.#file, this.#count)
      record = source.record
      matchFields = source.matchFields
    }
    try {
      this.#writer.add(record, Buffer.from(key), matchFields)
    } catch (error) {
      throw new DVDSaveError(this.#file, error, 'cannot write it')
    }
    this.#count++
  }

  finish(): void {
    try {
      this.#writer.finish()
    } catch (error) {
      throw new DVDSaveError(this.#file, error, 'cannot finish it')
    }
  }

  /** Deletes the temporary file; the target is left as it was. */
  abort(): void {
    this.#writer.abort()
  }
}

/**
 * Writes a binary DVD atomically (temporary file, fsync, rename) from a sequence of sources.
 * `onProgress` is called after each record with the number written so far.
 */
export function writeBinary(
  file: string,
  sources: Iterable<BinarySource>,
  matchOn: readonly MatcherName[],
  onProgress?: (written: number) => void,
): number {
  const writer = new BinaryDVDWriter(file, matchOn)
  try {
    for (const source of sources) {
      writer.add(source)
      onProgress?.(writer.count)
    }
    writer.finish()
  } catch (error) {
    writer.abort()
    // A recording that could not be read (from the DVD being converted) keeps its own error.
    throw error instanceof DVDError ? error : new DVDSaveError(file, error, 'cannot write it')
  }
  return writer.count
}
