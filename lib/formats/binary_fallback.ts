/**
 * Pure-TypeScript reader of binary DVDs (`*.dvd.lz4`, see `docs/FORMAT.md`), used when the native
 * addon cannot load on a platform. Same surface, same results and same `DVD_ERR_*` codes as
 * `NativeDvdReader` (`native/src/reader.rs`), in the same order of checks, so a damaged file fails
 * the same way on every platform.
 *
 * Instead of a memory mapping it keeps a file descriptor and reads with positional reads: the
 * header, footer, meta section and checksum directory at open (O(1) in the number of records apart
 * from the directory, 8 bytes per 4 KiB of index), the 4 KiB pieces of the index sections it needs
 * (each checksummed the first time) and record blocks on demand.
 * A descriptor, like a mapping, keeps reading the old inode when the file is replaced by rename.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { createRequire } from 'node:module'
import { decompressBlock } from '../lz4_block.js'
import type { BinaryStats } from '../native.js'
import { Xxh32, xxh32, xxh64, xxh64Into } from '../xxhash.js'
import {
  FOUND,
  NO_LAYOUT,
  NO_ROOM,
  NONE,
  NOT_SIMPLE,
  SLOT_COUNT,
  SLOT_ID,
  SLOT_LAYOUT,
  SLOT_LENGTH,
  SLOT_POSITION,
  SLOT_SAME_REQUEST,
  SLOT_STATUS,
} from './find_result.js'

type Code =
  | 'DVD_ERR_NOT_DVD'
  | 'DVD_ERR_TRUNCATED'
  | 'DVD_ERR_CHECKSUM'
  | 'DVD_ERR_VERSION'
  | 'DVD_ERR_CORRUPT'
  | 'DVD_ERR_IO'
  | 'DVD_ERR_RANGE'
  | 'DVD_ERR_CLOSED'

/** Shaped like the addon's errors: a plain `Error`, `code` set, message prefixed with the code. */
function dvdError(code: Code, message: string, cause?: unknown): Error {
  const err = new Error(`${code}: ${message}`, cause === undefined ? undefined : { cause }) as Error & {
    code: Code
  }
  err.code = code
  return err
}

const corrupt = (message: string): Error => dvdError('DVD_ERR_CORRUPT', message)

/** Re-raises `e` (a DVD error) with `record {id}: ` in front of its message, as reader.rs does. */
function inRecord(id: number, e: unknown): Error {
  const code = (e as { code?: Code } | null)?.code
  if (e instanceof Error && code !== undefined && code.startsWith('DVD_ERR_')) {
    return dvdError(code, `record ${id}: ${e.message.slice(code.length + 2)}`)
  }
  return asDvdError(e)
}

/** Anything unexpected (an fs error, a bug) still leaves as a `DVD_ERR_*` error. */
function asDvdError(e: unknown): Error {
  if (e instanceof Error && String((e as { code?: unknown }).code).startsWith('DVD_ERR_')) return e
  // Not expected (every offset is checked first); still keep the one error shape callers rely on.
  return dvdError('DVD_ERR_IO', e instanceof Error ? e.message : String(e), e)
}

// Layout constants (format.rs, frame.rs, fields.rs).
const VERSION_MAJOR = 1
const VERSION_MINOR = 0
const SKIP_MAGIC_HEADER = 0x184d2a5d
const SKIP_MAGIC_INDEX = 0x184d2a5e
const SKIP_MAGIC_FOOTER = 0x184d2a5f
const SKIP_HEADER_LEN = 8
const DESCRIPTOR_LEN = 192
const DESCRIPTOR_FRAME_LEN = SKIP_HEADER_LEN + DESCRIPTOR_LEN
const KIND_HEADER = 0x48
const KIND_FOOTER = 0x46
const DVD_MAGIC = [0x44, 0x56, 0x44, 0x52, 0x57] // "DVDRW"
const RECORD_ENTRY_LEN = 16
const SLOT_LEN = 16
const BUCKET_ID_LEN = 4
const CHUNK_ENTRY_LEN = 16
const FIELD_ENTRY_LEN = 12
const MAX_MATCH_ON_LEN = 64n * 1024n
const LZ4_MAGIC = 0x184d2204
const LZ4_FLG = 0x7c
const LZ4_BD = 0x70
const FRAME_HEADER_LEN = 15
const FRAME_TRAILER_LEN = 8
const MAX_BLOCK = 4 << 20
const STORED_FLAG = 0x8000_0000
const MAX_CHUNK_RAW = 1 << 20
const U32_MAX = 0xffff_ffff
/** Checksum piece of the record, hash and fields sections (format.rs `CHECK_CHUNK`). */
const CHECK_CHUNK = 4096
const DIR_ENTRY_LEN = 8
/** Verified pieces kept in memory per section (256 KiB); the cache is emptied when full. */
const PIECE_CACHE = 64
/** An index of at most this many pieces is verified whole at open (reader.rs `EAGER_PIECES`). */
const EAGER_PIECES = 16

const OFF_KIND = 5
const OFF_MAJOR = 6
const OFF_MINOR = 8
const OFF_DESC_LEN = 10
const OFF_CHECKSUM = 184

/** Largest output a compressed LZ4 block of `c` bytes can plausibly produce (frame.rs). */
const maxExpansion = (c: number): number => c * 256 + 64
const blocksFor = (len: number): number => Math.ceil(len / MAX_BLOCK)
const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength)

interface Section {
  off: bigint
  len: bigint
  xxh64: bigint
}

/** The 192-byte descriptor, with every u64 kept as a BigInt until validated against the file. */
interface Descriptor {
  kind: number
  major: number
  minor: number
  flags: number
  fileLen: bigint
  recordCount: bigint
  contentLen: bigint
  dataOff: bigint
  dataLen: bigint
  indexOff: bigint
  indexLen: bigint
  hashCapacity: number
  fieldsChunkCount: number
  sections: [Section, Section, Section, Section]
  dirOff: bigint
}

/** Descriptor equality ignoring `kind` (format.rs `same_file`); `reserved` is not compared there either. */
function sameFile(a: Descriptor, b: Descriptor): boolean {
  const scalar = (k: Exclude<keyof Descriptor, 'sections' | 'kind'>) => a[k] === b[k]
  const keys = [
    'major',
    'minor',
    'flags',
    'fileLen',
    'recordCount',
    'contentLen',
    'dataOff',
    'dataLen',
    'indexOff',
    'indexLen',
    'hashCapacity',
    'fieldsChunkCount',
    'dirOff',
  ] as const
  return (
    keys.every(scalar) &&
    a.sections.every((s, i) => {
      const t = b.sections[i]!
      return s.off === t.off && s.len === t.len && s.xxh64 === t.xxh64
    })
  )
}

/**
 * Decodes a descriptor frame from the first (up to) 200 bytes at its position: `buf` is shorter only
 * when the file ends there. Mirrors `Descriptor::decode_frame`, checks in the same order.
 */
function decodeFrame(buf: Uint8Array, expectedMagic: number, kind: number, what: string): Descriptor {
  const magic = [
    expectedMagic & 0xff,
    (expectedMagic >>> 8) & 0xff,
    (expectedMagic >>> 16) & 0xff,
    expectedMagic >>> 24,
  ]
  for (let i = 0; i < Math.min(buf.length, 4); i++) {
    if (buf[i] !== magic[i]) throw dvdError('DVD_ERR_NOT_DVD', `${what}: not a DVD file (bad frame magic)`)
  }
  if (buf.length < SKIP_HEADER_LEN)
    throw dvdError('DVD_ERR_TRUNCATED', `${what}: file ends inside the ${what}`)
  const p = buf.subarray(SKIP_HEADER_LEN)
  for (let i = 0; i < Math.min(p.length, DVD_MAGIC.length); i++) {
    if (p[i] !== DVD_MAGIC[i]) throw dvdError('DVD_ERR_NOT_DVD', `${what}: not a DVD file (bad DVDRW magic)`)
  }
  const truncated = () => dvdError('DVD_ERR_TRUNCATED', `file ends inside the ${what}`)
  if (p.length < OFF_MINOR + 2) throw truncated()
  const pv = view(p)
  const major = pv.getUint16(OFF_MAJOR, true)
  const minor = pv.getUint16(OFF_MINOR, true)
  if (major !== VERSION_MAJOR) {
    throw dvdError(
      'DVD_ERR_VERSION',
      `file format version ${major}.${minor} is not supported by this reader (supports ${VERSION_MAJOR}.${VERSION_MINOR})`,
    )
  }
  const frameSize = view(buf).getUint32(4, true)
  if (p.length < OFF_DESC_LEN + 2) throw truncated()
  const descLen = pv.getUint16(OFF_DESC_LEN, true)
  if (frameSize !== DESCRIPTOR_LEN || descLen !== DESCRIPTOR_LEN) {
    throw corrupt(`${what}: unexpected descriptor size ${frameSize}/${descLen}`)
  }
  if (p.length < DESCRIPTOR_LEN) throw truncated()
  if (xxh64(p.subarray(0, OFF_CHECKSUM)) !== pv.getBigUint64(OFF_CHECKSUM, true)) {
    throw dvdError('DVD_ERR_CHECKSUM', `${what} checksum mismatch`)
  }
  const u64 = (at: number) => pv.getBigUint64(at, true)
  const section = (i: number): Section => ({
    off: u64(80 + i * 24),
    len: u64(88 + i * 24),
    xxh64: u64(96 + i * 24),
  })
  const d: Descriptor = {
    kind: p[OFF_KIND]!,
    major,
    minor,
    flags: pv.getUint32(12, true),
    fileLen: u64(16),
    recordCount: u64(24),
    contentLen: u64(32),
    dataOff: u64(40),
    dataLen: u64(48),
    indexOff: u64(56),
    indexLen: u64(64),
    hashCapacity: pv.getUint32(72, true),
    fieldsChunkCount: pv.getUint32(76, true),
    sections: [section(0), section(1), section(2), section(3)],
    dirOff: u64(176),
  }
  if (d.kind !== kind) throw corrupt(`${what}: wrong descriptor kind`)
  return d
}

/** Byte ranges validated at open. File offsets are plain numbers: all are below the file size. */
interface Layout {
  count: number
  /** Block area of the data frame: after the frame header, before the end mark. */
  blocksStart: number
  blocksEnd: number
  records: Sec
  hash: Sec
  fields: Sec
  capacity: number
  chunks: number
  /** Start of the chunk data, relative to the fields section. */
  fieldsDataStart: number
  matchOn: string
}

/** Little-endian reads at section-relative offsets (of a lazily verified section or a buffer). */
interface Bytes {
  bytes(at: number, n: number): Uint8Array
}

/** A buffer read (and verified) whole: for the full-table checks of `verify`. */
class Whole implements Bytes {
  constructor(readonly b: Uint8Array) {}
  bytes(at: number, n: number): Uint8Array {
    return this.b.subarray(at, at + n)
  }
}

/**
 * One checksummed index section (record, hash or fields table), read with positional reads. Every
 * range is verified against the checksum directory, 4 KiB piece by piece, the first time it is read
 * (reader.rs `ensure`, same order and messages); a few verified pieces stay cached.
 */
class Sec implements Bytes {
  readonly #verified: Uint8Array
  readonly #cache = new Map<number, Uint8Array>()

  constructor(
    readonly file: FileBytes,
    readonly name: string,
    /** Absolute file offset and length. */
    readonly off: number,
    readonly len: number,
    /** This section's part of the checksum directory (checked at open). */
    readonly dir: Uint8Array,
  ) {
    this.#verified = new Uint8Array(Math.ceil(len / CHECK_CHUNK))
  }

  /** Number of checksum pieces. */
  get pieces(): number {
    return this.#verified.length
  }

  /** Bytes `[at, at + n)` of the section, their pieces verified. */
  bytes(at: number, n: number): Uint8Array {
    if (n <= 0) return new Uint8Array(0)
    if (at + n > this.len) throw corrupt(`${this.name}: read outside the section`)
    const c0 = Math.floor(at / CHECK_CHUNK)
    const c1 = Math.floor((at + n - 1) / CHECK_CHUNK)
    if (c0 === c1) {
      let piece = this.#cache.get(c0)
      if (piece === undefined) {
        piece = this.#span(c0, c0)
        if (this.#cache.size >= PIECE_CACHE) this.#cache.clear()
        this.#cache.set(c0, piece)
      }
      const rel = at - c0 * CHECK_CHUNK
      return piece.subarray(rel, rel + n)
    }
    const span = this.#span(c0, c1)
    const rel = at - c0 * CHECK_CHUNK
    return span.subarray(rel, rel + n)
  }

  /** Reads pieces `c0..=c1` and verifies those not verified yet, in order. */
  #span(c0: number, c1: number): Uint8Array {
    const start = c0 * CHECK_CHUNK
    const end = Math.min((c1 + 1) * CHECK_CHUNK, this.len)
    const b = this.file.read(this.off + start, end - start)
    const dv = view(this.dir)
    for (let c = c0; c <= c1; c++) {
      if (this.#verified[c] === 1) continue
      const rel = (c - c0) * CHECK_CHUNK
      const piece = b.subarray(rel, Math.min(rel + CHECK_CHUNK, b.length))
      if (xxh64(piece) !== dv.getBigUint64(c * DIR_ENTRY_LEN, true)) {
        throw dvdError('DVD_ERR_CHECKSUM', `index checksum mismatch (${this.name} chunk ${c})`)
      }
      this.#verified[c] = 1
    }
    return b
  }

  /** The whole section, verified (for `verify`). */
  whole(): Whole {
    return new Whole(this.bytes(0, this.len))
  }
}

/** Positional reads of one open file; never outside `[0, size)`. */
class FileBytes {
  constructor(
    readonly fd: number,
    readonly size: number,
  ) {}

  /** `len` bytes at `pos`; the caller has checked the range against `size`. */
  read(pos: number, len: number): Uint8Array {
    const out = Buffer.allocUnsafe(len)
    let done = 0
    while (done < len) {
      let n: number
      try {
        n = readSync(this.fd, out, done, len - done, pos + done)
      } catch (e) {
        throw dvdError('DVD_ERR_IO', `cannot read: ${(e as Error).message}`, e)
      }
      // Only when the file shrank under us (modified in place, never done by dvd-rw).
      if (n === 0) throw dvdError('DVD_ERR_TRUNCATED', 'file shrank while it was open')
      done += n
    }
    return out
  }
}

/** Checks a section lies inside `[lo, hi)`, aligned (reader.rs `section_range`). */
function sectionRange(s: Section, lo: bigint, hi: bigint, name: string): void {
  if (s.off % 8n !== 0n || s.off < lo || s.off + s.len > hi) {
    throw corrupt(
      `${name} section [${s.off}, +${s.len}) outside the index frame or overlapping another section`,
    )
  }
}

/** Mirrors reader.rs `validate`: header, footer, frame chain, sections and their checksums. */
function validate(file: FileBytes): { desc: Descriptor; layout: Layout } {
  const size = file.size
  const fileLen = BigInt(size)
  if (size === 0) throw dvdError('DVD_ERR_NOT_DVD', 'file is empty')
  const head = decodeFrame(
    file.read(0, Math.min(size, DESCRIPTOR_FRAME_LEN)),
    SKIP_MAGIC_HEADER,
    KIND_HEADER,
    'header',
  )
  if (head.fileLen > fileLen) {
    throw dvdError('DVD_ERR_TRUNCATED', `file is ${size} bytes but its header announces ${head.fileLen}`)
  }
  if (head.fileLen < fileLen) {
    throw corrupt(`file is ${size} bytes but its header announces ${head.fileLen} (trailing data)`)
  }
  const footAt = size - DESCRIPTOR_FRAME_LEN
  if (footAt < DESCRIPTOR_FRAME_LEN)
    throw dvdError('DVD_ERR_TRUNCATED', 'file too short for header and footer')
  let foot: Descriptor
  try {
    foot = decodeFrame(file.read(footAt, DESCRIPTOR_FRAME_LEN), SKIP_MAGIC_FOOTER, KIND_FOOTER, 'footer')
  } catch (e) {
    if ((e as { code?: string }).code === 'DVD_ERR_NOT_DVD') {
      throw dvdError('DVD_ERR_TRUNCATED', 'footer missing: the file is truncated')
    }
    throw e
  }
  if (!sameFile(head, foot)) throw corrupt('header and footer disagree')
  const d = head
  if (d.flags !== 0) throw corrupt(`unknown feature flags 0x${d.flags.toString(16)}`)
  if (d.recordCount >= BigInt(U32_MAX)) throw corrupt('record count out of range')
  const count = Number(d.recordCount)

  const chainOk =
    d.dataOff === BigInt(DESCRIPTOR_FRAME_LEN) &&
    d.dataLen >= BigInt(FRAME_HEADER_LEN + FRAME_TRAILER_LEN) &&
    d.dataOff + d.dataLen === d.indexOff &&
    d.indexLen >= BigInt(SKIP_HEADER_LEN) &&
    d.indexOff + d.indexLen === BigInt(footAt)
  if (!chainOk) throw corrupt('frame offsets in the descriptor are inconsistent')
  // From here on every offset of the chain is inside the file, so it fits in a number.
  const dataOff = Number(d.dataOff)
  const indexOff = Number(d.indexOff)

  const h = file.read(dataOff, FRAME_HEADER_LEN)
  const hv = view(h)
  if (hv.getUint32(0, true) !== LZ4_MAGIC) throw corrupt('data frame: bad LZ4 magic')
  if (h[4] !== LZ4_FLG || h[5] !== LZ4_BD) throw corrupt('data frame: unsupported LZ4 frame flags')
  if (h[14] !== ((xxh32(h.subarray(4, 14)) >>> 8) & 0xff)) {
    throw dvdError('DVD_ERR_CHECKSUM', 'data frame: LZ4 header checksum mismatch')
  }
  if (hv.getBigUint64(6, true) !== d.contentLen)
    throw corrupt('LZ4 content size disagrees with the descriptor')
  const ih = view(file.read(indexOff, SKIP_HEADER_LEN))
  if (
    ih.getUint32(0, true) !== SKIP_MAGIC_INDEX ||
    BigInt(ih.getUint32(4, true)) !== d.indexLen - BigInt(SKIP_HEADER_LEN)
  ) {
    throw corrupt('index frame header is invalid')
  }

  const [rec, hash, fields, meta] = d.sections
  const lo = d.indexOff + BigInt(SKIP_HEADER_LEN)
  const hi = d.indexOff + d.indexLen
  sectionRange(rec, lo, hi, 'record table')
  sectionRange(hash, rec.off + rec.len, hi, 'hash table')
  sectionRange(fields, hash.off + hash.len, hi, 'fields table')
  sectionRange(meta, fields.off + fields.len, hi, 'meta')
  if (rec.len !== BigInt(count) * BigInt(RECORD_ENTRY_LEN)) {
    throw corrupt('record table length does not match the record count')
  }
  if (meta.len > MAX_MATCH_ON_LEN) throw corrupt('match_on string too long')

  const metaBytes = file.read(Number(meta.off), Number(meta.len))
  if (xxh64(metaBytes) !== meta.xxh64) throw dvdError('DVD_ERR_CHECKSUM', 'index checksum mismatch (meta)')
  // Checksum directory: after meta, its length given by the sections' (one XXH64 per 4 KiB).
  const pieces = (len: bigint) => (len + BigInt(CHECK_CHUNK) - 1n) / BigInt(CHECK_CHUNK)
  const dirLen = (pieces(rec.len) + pieces(hash.len) + pieces(fields.len)) * BigInt(DIR_ENTRY_LEN)
  sectionRange({ off: d.dirOff, len: dirLen, xxh64: 0n }, meta.off + meta.len, hi, 'checksum directory')
  const dir = file.read(Number(d.dirOff), Number(dirLen))
  const names = ['record table', 'hash table', 'fields table'] as const
  const secs: Sec[] = []
  let dirAt = 0
  for (const [i, s] of [rec, hash, fields].entries()) {
    const n = Number(pieces(s.len)) * DIR_ENTRY_LEN
    const list = dir.subarray(dirAt, dirAt + n)
    if (xxh64(list) !== s.xxh64) {
      throw dvdError('DVD_ERR_CHECKSUM', `index checksum mismatch (${names[i]!} checksums)`)
    }
    secs.push(new Sec(file, names[i]!, Number(s.off), Number(s.len), list))
    dirAt += n
  }

  // Structural checks of the tables (index_table.rs `TableView::new`, fields.rs `FieldsView::new`).
  const capacity = d.hashCapacity
  if (capacity === 0 || (capacity & (capacity - 1)) !== 0) {
    throw corrupt('hash table capacity is not a power of two')
  }
  if (capacity * SLOT_LEN + count * BUCKET_ID_LEN !== Number(hash.len)) {
    throw corrupt('hash table section has the wrong length')
  }
  const chunks = d.fieldsChunkCount
  const fieldsDataStart = Math.ceil((chunks * CHUNK_ENTRY_LEN + count * FIELD_ENTRY_LEN) / 8) * 8
  if (fieldsDataStart > Number(fields.len)) throw corrupt('fields section shorter than its tables')
  let matchOn: string
  try {
    // ignoreBOM: a leading U+FEFF is part of the string, as in Rust.
    matchOn = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(metaBytes)
  } catch {
    throw corrupt('match_on is not UTF-8')
  }
  return {
    desc: d,
    layout: {
      count,
      blocksStart: dataOff + FRAME_HEADER_LEN,
      blocksEnd: indexOff - FRAME_TRAILER_LEN,
      records: secs[0]!,
      hash: secs[1]!,
      fields: secs[2]!,
      capacity,
      chunks,
      fieldsDataStart,
      matchOn,
    },
  }
}

/**
 * Which LZ4 block decoder the fallback uses. `lz4-napi` when it loads (it is a native addon too, so
 * it may not, where ours does not): loaded on first use, so stored-only files need no decoder. Where
 * it does not load, or when the environment variable `DVD_RW_LZ4=ts` is set (read on every block, so
 * tests can switch it), the pure-TypeScript decoder of `lib/lz4_block.ts`. Both accept exactly the
 * blocks lz4_flex (the native reader) accepts, with the same output.
 */
const LZ4_ENV = 'DVD_RW_LZ4'

let lz4: { uncompressSync(data: Uint8Array): Buffer } | null | undefined

function lz4Napi(): typeof lz4 {
  if (lz4 === undefined) {
    try {
      lz4 = createRequire(import.meta.url)('lz4-napi') as typeof lz4
    } catch {
      lz4 = null
    }
  }
  return lz4
}

/** The decoder `decodeBlock` uses now (see {@link LZ4_ENV}); exported for tests. */
export function lz4Backend(): 'lz4-napi' | 'typescript' {
  return process.env[LZ4_ENV] !== 'ts' && lz4Napi() ? 'lz4-napi' : 'typescript'
}

/**
 * Decodes one raw LZ4 block into exactly `want` bytes (frame.rs `decode_payload`). lz4-napi wants
 * lz4_flex's size-prepended form.
 */
function decodeBlock(data: Uint8Array, want: number): Buffer {
  const napi = process.env[LZ4_ENV] === 'ts' ? null : lz4Napi()
  if (!napi) return decompressBlock(data, want)
  const input = Buffer.allocUnsafe(4 + data.length)
  input.writeUInt32LE(want, 0)
  input.set(data, 4)
  let out: Buffer
  try {
    out = napi.uncompressSync(input)
  } catch (e) {
    throw corrupt(`LZ4 block does not decode: ${(e as Error).message}`)
  }
  // lz4-napi returns a shorter buffer when the block ends early; lz4_flex's decompress_into says so.
  if (out.length !== want) throw corrupt('LZ4 block decodes to the wrong length')
  return out
}

/** One block of a record: where its data is (absolute file offset), stored or compressed. */
interface Block {
  stored: boolean
  dataPos: number
  dataLen: number
}

/** Sentinel of a closed reader. */
const CLOSED = Symbol('closed')

const fdRegistry = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd)
  } catch {
    // Already gone: nothing to release.
  }
})

/**
 * Reader of a `.dvd.lz4` file in pure TypeScript, the fallback of `NativeDvdReader` with exactly its
 * surface and behaviour (results and `DVD_ERR_*` codes). Opening validates the header, footer and
 * index checksums without touching any record; records are read from the file on demand.
 */
export class FallbackDvdReader {
  #file: FileBytes | typeof CLOSED
  #desc: Descriptor
  #layout: Layout
  /** Last decompressed match-fields chunk (fields.rs keeps the same one-chunk cache). */
  #chunkCache: { ci: number; raw: Buffer } | undefined
  /**
   * Outcome of the one-time structural check of the match-fields table (reader.rs `fields_layout`):
   * `undefined` until the first `matchFields` call (opening stays O(1) in the table size), then
   * `null` when it passed or the error every later call throws again.
   */
  #fieldsLayout: Error | null | undefined
  readonly #hashOut = new Uint32Array(2)
  /** Per key hash with more than one candidate: the first position not played at the last lookup. */
  readonly #firstUnplayed = new Map<string, number>()

  private constructor(file: FileBytes, desc: Descriptor, layout: Layout) {
    this.#file = file
    this.#desc = desc
    this.#layout = layout
  }

  /**
   * Opens and validates the file. Throws `DVD_ERR_*` errors for missing, empty, non-DVD, truncated,
   * corrupt or newer-major-version files.
   */
  static open(path: string): FallbackDvdReader {
    let fd: number
    try {
      fd = openSync(path, 'r')
    } catch (e) {
      throw dvdError('DVD_ERR_IO', `cannot open ${path}: ${(e as Error).message}`, e)
    }
    try {
      let size: number
      try {
        const st = fstatSync(fd)
        if (st.isDirectory()) throw new Error('is a directory')
        size = st.size
      } catch (e) {
        throw dvdError('DVD_ERR_IO', `cannot stat ${path}: ${(e as Error).message}`, e)
      }
      if (size === 0) throw dvdError('DVD_ERR_NOT_DVD', `file is empty: ${path}`)
      const file = new FileBytes(fd, size)
      const { desc, layout } = validate(file)
      // A small index (at most 16 pieces, 64 KiB) is verified whole at open, as reader.rs does.
      const L = layout
      if (L.records.pieces + L.hash.pieces + L.fields.pieces <= EAGER_PIECES) {
        for (const sec of [L.records, L.hash, L.fields]) sec.bytes(0, sec.len)
      }
      const reader = new FallbackDvdReader(file, desc, layout)
      fdRegistry.register(reader, fd, reader)
      return reader
    } catch (e) {
      closeSync(fd)
      throw asDvdError(e)
    }
  }

  #open(): FileBytes {
    if (this.#file === CLOSED) throw dvdError('DVD_ERR_CLOSED', 'reader is closed')
    return this.#file
  }

  /** Number of records. */
  get count(): number {
    this.#open()
    return this.#layout.count
  }

  /** The `matchOn` set the stored hash index was built for. */
  get matchOn(): string {
    this.#open()
    return this.#layout.matchOn
  }

  /** Major format version of the file. */
  get versionMajor(): number {
    this.#open()
    return this.#desc.major
  }

  /** Minor format version of the file. */
  get versionMinor(): number {
    this.#open()
    return this.#desc.minor
  }

  /**
   * Ids of the records whose key hash (XXH64, seed 0) equals that of `key`, in recording order;
   * empty when there is none. Candidates must still be compared on their match fields.
   */
  lookup(key: Buffer): Uint32Array {
    this.#open()
    if (!(key instanceof Uint8Array)) throw dvdError('DVD_ERR_RANGE', 'lookup key must be a Buffer')
    try {
      xxh64Into(key, this.#hashOut)
      const L = this.#layout
      const found = probe(L, this.#hashOut[0]!, this.#hashOut[1]!)
      if (found === undefined) return new Uint32Array(0)
      return decodeBucket(L, L.hash, found.start, found.len)
    } catch (e) {
      throw asDvdError(e)
    }
  }

  /**
   * Same contract as the native `find` (`native/src/find.rs`), without layouts (records are decoded
   * the general way) and without keying requests from their parts: a request given without its
   * key answers NOT_SIMPLE.
   */
  find(
    key: string | null,
    _method: string,
    _origin: string,
    _path: string,
    from: number,
    plays: Uint32Array | null,
    target: Buffer,
    offset: number,
    result: Uint32Array,
  ): void {
    this.#open()
    result[SLOT_SAME_REQUEST] = 0
    if (key === null) {
      result[SLOT_STATUS] = NOT_SIMPLE
      return
    }
    const L = this.#layout
    let found: { start: number; len: number } | undefined
    try {
      xxh64Into(Buffer.from(key), this.#hashOut)
      found = probe(L, this.#hashOut[0]!, this.#hashOut[1]!)
    } catch (e) {
      throw asDvdError(e)
    }
    const count = found?.len ?? 0
    result[SLOT_COUNT] = count
    if (!found || from >= count) {
      result[SLOT_STATUS] = NONE
      return
    }
    const { start } = found
    const id = (at: number): number => {
      try {
        return bucketId(L, L.hash, start, at)
      } catch (e) {
        throw asDvdError(e)
      }
    }
    let position = from
    if (plays) {
      // Candidates before the remembered position were played at the last lookup (see find.rs).
      const hash = `${this.#hashOut[0]}:${this.#hashOut[1]}`
      const remembered = from === 0 ? (this.#firstUnplayed.get(hash) ?? 0) : from
      let at = Math.max(remembered, from)
      while (at < count && (plays[id(at)] ?? 0) > 0) at++
      if (from === 0 && at > remembered && count > 1) this.#firstUnplayed.set(hash, at)
      position = Math.min(at, count - 1)
    }
    result[SLOT_POSITION] = position
    this.read(id(position), target, offset, result)
  }

  /** Same contract as the native `read`: record `id` into `target` at `offset`, without a layout. */
  read(id: number, target: Buffer, offset: number, result: Uint32Array): void {
    if (!Number.isInteger(offset) || offset < 0 || offset > target.length) {
      throw dvdError('DVD_ERR_RANGE', 'offset past the end of the target')
    }
    const bytes = this.record(id)
    result[SLOT_ID] = id
    result[SLOT_LAYOUT + 1] = NO_LAYOUT
    result[SLOT_LENGTH] = bytes.length
    if (bytes.length > target.length - offset) {
      result[SLOT_STATUS] = NO_ROOM
      return
    }
    bytes.copy(target, offset)
    result[SLOT_STATUS] = FOUND
  }

  record(id: number): Buffer {
    const file = this.#open()
    const n = toId(id)
    try {
      return readRecord(file, this.#layout, n).data
    } catch (e) {
      throw asDvdError(e)
    }
  }

  /** Normalized match fields of record `id`, as given to the writer's `add`. */
  matchFields(id: number): Buffer {
    this.#open()
    const n = toId(id)
    try {
      return this.#matchFields(n)
    } catch (e) {
      throw asDvdError(e)
    }
  }

  #matchFields(n: number): Buffer {
    const L = this.#layout
    if (n >= L.count) throw dvdError('DVD_ERR_RANGE', `record id ${n} out of range (count ${L.count})`)
    if (this.#fieldsLayout === undefined) {
      try {
        checkFieldsLayout(L, new Whole(L.fields.bytes(0, L.fieldsDataStart)))
        this.#fieldsLayout = null
      } catch (e) {
        this.#fieldsLayout = asDvdError(e)
      }
    }
    if (this.#fieldsLayout !== null) throw this.#fieldsLayout
    const e = view(L.fields.bytes(L.chunks * CHUNK_ENTRY_LEN + n * FIELD_ENTRY_LEN, FIELD_ENTRY_LEN))
    const ci = e.getUint32(0, true)
    const off = e.getUint32(4, true)
    const len = e.getUint32(8, true)
    const chunk = locateChunk(L, L.fields, ci)
    const slice = (raw: Uint8Array): Buffer => {
      if (off + len > raw.length) throw corrupt('match fields outside their chunk')
      return Buffer.from(raw.subarray(off, off + len))
    }
    // A cached chunk was verified when it was read: reading its data again would only re-read it.
    if (!chunk.stored && this.#chunkCache?.ci === ci) return slice(this.#chunkCache.raw)
    const data = L.fields.bytes(chunk.off, chunk.size)
    if (chunk.stored) return slice(data)
    this.#chunkCache = undefined
    const raw = decodeBlock(data, chunk.rawLen)
    this.#chunkCache = { ci, raw }
    return slice(raw)
  }

  /**
   * Checks everything: all checksums, every block decompresses, the records exactly fill the LZ4
   * frame, the content checksum, and the hash and match-fields tables. Throws on the first problem.
   */
  verify(): void {
    const file = this.#open()
    try {
      verifyFile(file, this.#desc)
    } catch (e) {
      throw asDvdError(e)
    }
  }

  /** Counts, section sizes, hash-table capacity and load factor. */
  stats(): BinaryStats {
    this.#open()
    const d = this.#desc
    const L = this.#layout
    const distinct = occupied(L)
    return {
      recordCount: L.count,
      fileBytes: Number(d.fileLen),
      uncompressedRecordBytes: Number(d.contentLen),
      compressedRecordBytes: L.blocksEnd - L.blocksStart,
      dataFrameBytes: Number(d.dataLen),
      indexFrameBytes: Number(d.indexLen),
      recordTableBytes: Number(d.sections[0].len),
      hashTableBytes: Number(d.sections[1].len),
      fieldsTableBytes: Number(d.sections[2].len),
      fieldsChunkCount: d.fieldsChunkCount,
      hashCapacity: d.hashCapacity,
      distinctKeys: distinct,
      loadFactor: distinct / Math.max(d.hashCapacity, 1),
    }
  }

  /** Closes the file. Further calls throw `DVD_ERR_CLOSED`. Idempotent. */
  close(): void {
    if (this.#file === CLOSED) return
    const { fd } = this.#file
    this.#file = CLOSED
    this.#chunkCache = undefined
    fdRegistry.unregister(this)
    try {
      closeSync(fd)
    } catch {
      // Closing can only fail for an fd that is already gone; the reader is closed either way.
    }
  }
}

/** napi's u32 conversion (ToUint32: -1 → 2^32-1, 1.5 → 1, NaN → 0), so ids behave alike. */
function toId(id: number): number {
  if (typeof id !== 'number') throw dvdError('DVD_ERR_RANGE', 'record id must be a number')
  return id >>> 0
}

/** Linear probing for the hash `(hi, lo)` (index_table.rs `probe`); at most `capacity` steps. */
function probe(L: Layout, lo: number, hi: number): { start: number; len: number } | undefined {
  const mask = L.capacity - 1
  let i = lo & mask
  for (let step = 0; step < L.capacity; step++) {
    const v = view(L.hash.bytes(i * SLOT_LEN, SLOT_LEN))
    const len = v.getUint32(12, true)
    if (len === 0) return undefined
    if (v.getUint32(0, true) === lo && v.getUint32(4, true) === hi) {
      const start = v.getUint32(8, true)
      checkBucket(L, start, len)
      return { start, len }
    }
    i = (i + 1) & mask
  }
  return undefined
}

function checkBucket(L: Layout, start: number, len: number): void {
  if (start + len > L.count || start + len > U32_MAX) {
    throw corrupt(`hash bucket [${start}, +${len}) outside the ${L.count} record ids`)
  }
}

/** The ids of a bucket, each checked to be a record id (index_table.rs `decode_bucket`). */
/** The id at `position` of the bucket starting at id slot `start`, checked to be a record id. */
function bucketId(L: Layout, table: Bytes, start: number, position: number): number {
  const at = L.capacity * SLOT_LEN + (start + position) * BUCKET_ID_LEN
  const id = view(table.bytes(at, BUCKET_ID_LEN)).getUint32(0, true)
  if (id >= L.count) throw corrupt(`hash bucket holds invalid record id ${id}`)
  return id
}

function decodeBucket(L: Layout, table: Bytes, start: number, len: number): Uint32Array {
  const out = new Uint32Array(len)
  const v = view(table.bytes(L.capacity * SLOT_LEN + start * BUCKET_ID_LEN, len * BUCKET_ID_LEN))
  for (let k = 0; k < len; k++) {
    const id = v.getUint32(k * BUCKET_ID_LEN, true)
    if (id >= L.count) throw corrupt(`hash bucket holds invalid record id ${id}`)
    out[k] = id
  }
  return out
}

/** Occupied slots; 0 when the slots fail their checksums (reader.rs `stats`). */
function occupied(L: Layout): number {
  let v: DataView
  try {
    v = view(L.hash.bytes(0, L.capacity * SLOT_LEN))
  } catch {
    return 0
  }
  let n = 0
  for (let i = 0; i < L.capacity; i++) if (v.getUint32(i * SLOT_LEN + 12, true) !== 0) n++
  return n
}

/** Chunk `ci` of the match-fields table, bounds and claimed length checked (fields.rs `chunk`). */
function locateChunk(
  L: Layout,
  F: Bytes,
  ci: number,
): { off: number; stored: boolean; size: number; rawLen: number } {
  if (ci >= L.chunks) throw corrupt(`fields chunk ${ci} does not exist`)
  const e = view(F.bytes(ci * CHUNK_ENTRY_LEN, CHUNK_ENTRY_LEN))
  const off = e.getBigUint64(0, true)
  const size = e.getUint32(8, true)
  const rawLen = e.getUint32(12, true)
  const stored = (size & STORED_FLAG) !== 0
  const c = (size & ~STORED_FLAG) >>> 0
  if (off < BigInt(L.fieldsDataStart)) throw corrupt('fields chunk overlaps the fields tables')
  if (off + BigInt(c) > BigInt(L.fields.len)) throw corrupt('fields chunk outside its section')
  const plausible = stored ? c === rawLen : c < rawLen && rawLen <= maxExpansion(c)
  if (rawLen > MAX_CHUNK_RAW || !plausible) throw corrupt('fields chunk has an implausible length')
  return { off: Number(off), stored, size: c, rawLen }
}

/** Record table entry `id`: block position (absolute), block count, length (reader.rs `entry`). */
function recordEntry(
  L: Layout,
  id: number,
  table: Bytes = L.records,
): { pos: number; blocks: number; len: number } {
  if (id >= L.count) throw dvdError('DVD_ERR_RANGE', `record id ${id} out of range (count ${L.count})`)
  const v = view(table.bytes(id * RECORD_ENTRY_LEN, RECORD_ENTRY_LEN))
  const off = v.getBigUint64(0, true)
  const blocks = v.getUint32(8, true)
  const len = v.getUint32(12, true)
  if (off < BigInt(L.blocksStart) || off > BigInt(L.blocksEnd)) {
    throw corrupt(`record ${id} offset ${off} outside the data frame`)
  }
  return { pos: Number(off), blocks, len }
}

/**
 * Reads record `id`: walks its block headers first (frame.rs `check_record`: sizes, bounds, and a
 * claimed length the blocks can really produce, before allocating it), then checks each block's
 * XXH32 and decodes it. Returns the bytes and the position after the last block.
 */
function readRecord(file: FileBytes, L: Layout, id: number): { data: Buffer; end: number } {
  const { pos, blocks, len } = recordEntry(L, id)
  try {
    return readBlocks(file, L, pos, blocks, len)
  } catch (e) {
    throw inRecord(id, e)
  }
}

function readBlocks(
  file: FileBytes,
  L: Layout,
  pos: number,
  nBlocks: number,
  len: number,
): { data: Buffer; end: number } {
  if (nBlocks !== blocksFor(len)) throw corrupt('record block count does not match its length')
  if (nBlocks === 0) return { data: Buffer.alloc(0), end: pos }
  // A valid record spans at most len + 8 bytes per block (compressed blocks are smaller than their
  // input, stored ones equal), so one read gets a one-block record. Capped at one block so a lying
  // length cannot make us read much before the block headers below are checked.
  const guess = Math.min(len + 8 * nBlocks, MAX_BLOCK + 8, L.blocksEnd - pos)
  let buf = file.read(pos, guess)
  let bufAt = pos
  const u32At = (p: number): number =>
    p + 4 <= bufAt + buf.length
      ? view(buf).getUint32(p - bufAt, true)
      : view(file.read(p, 4)).getUint32(0, true)
  const outside = () => corrupt('record block outside the data frame')

  const list: Block[] = []
  let p = pos
  let left = len
  for (let k = 0; k < nBlocks; k++) {
    if (p + 4 > L.blocksEnd) throw outside()
    const size = u32At(p)
    const stored = (size & STORED_FLAG) !== 0
    const c = (size & ~STORED_FLAG) >>> 0
    if (c === 0) throw corrupt('unexpected LZ4 end mark inside a record')
    if (c > MAX_BLOCK) throw corrupt('LZ4 block larger than the maximum block size')
    const end = p + 4 + c
    if (end + 4 > L.blocksEnd) throw outside()
    const want = Math.min(left, MAX_BLOCK)
    const ok = stored ? c === want : c < want && want <= maxExpansion(c)
    if (!ok) throw corrupt('record length does not match its blocks')
    list.push({ stored, dataPos: p + 4, dataLen: c })
    left -= want
    p = end + 4
  }
  if (p > bufAt + buf.length) {
    buf = file.read(pos, p - pos)
    bufAt = pos
  }
  const bv = view(buf)
  const parts: Buffer[] = []
  left = len
  for (const b of list) {
    const data = buf.subarray(b.dataPos - bufAt, b.dataPos - bufAt + b.dataLen)
    if (xxh32(data) !== bv.getUint32(b.dataPos + b.dataLen - bufAt, true)) {
      throw dvdError('DVD_ERR_CHECKSUM', 'record block checksum mismatch')
    }
    const want = Math.min(left, MAX_BLOCK)
    parts.push(
      b.stored ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : decodeBlock(data, want),
    )
    left -= want
  }
  const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts, len)
  return { data, end: p }
}

/** reader.rs `verify`, reading the file again through the same descriptor. */
function verifyFile(file: FileBytes, desc: Descriptor): void {
  const { desc: now, layout: L } = validate(file)
  if (!sameFile(now, desc) || now.kind !== desc.kind) throw corrupt('file changed since it was opened')
  // Every piece of every checksummed section, in order (reader.rs `ensure_all`).
  const records = L.records.whole()
  const table = L.hash.whole()
  const fields = L.fields.whole()
  let pos = L.blocksStart
  const hasher = new Xxh32(0)
  let total = 0n
  for (let id = 0; id < L.count; id++) {
    const { pos: p, blocks, len } = recordEntry(L, id, records)
    if (p !== pos) throw corrupt(`record ${id} does not follow record ${id === 0 ? U32_MAX : id - 1}`)
    let r: { data: Buffer; end: number }
    try {
      r = readBlocks(file, L, p, blocks, len)
    } catch (e) {
      throw inRecord(id, e)
    }
    hasher.update(r.data)
    pos = r.end
    total += BigInt(len)
  }
  if (pos !== L.blocksEnd) throw corrupt('data frame holds blocks that belong to no record')
  if (total !== desc.contentLen) throw corrupt('record lengths do not add up to the content size')
  const trailer = view(file.read(L.blocksEnd, FRAME_TRAILER_LEN))
  if (trailer.getUint32(0, true) !== 0) throw corrupt('LZ4 end mark missing')
  if (trailer.getUint32(4, true) !== hasher.digest())
    throw dvdError('DVD_ERR_CHECKSUM', 'LZ4 content checksum mismatch')
  checkTable(L, table)
  checkFields(L, fields)
}

/**
 * index_table.rs `check_all`: buckets partition the ids, ascending inside a bucket, and every
 * occupied slot is the one probing its hash finds. Probing from every slot would be
 * O(capacity²) on a hostile full table, so reachability is decided in one pass instead: a slot is
 * found by probing iff no other occupied slot has its hash (the first one would shadow it; the
 * same bucket twice fails the partition check anyway) and no empty slot lies between its home
 * slot and itself. Every failure here is `DVD_ERR_CORRUPT`, so only the verdict has to match.
 */
function checkTable(L: Layout, T: Whole): void {
  const v = view(T.b)
  const mask = L.capacity - 1
  let empty = -1
  for (let i = 0; i < L.capacity && empty < 0; i++) if (v.getUint32(i * SLOT_LEN + 12, true) === 0) empty = i
  const hashes = new Set<bigint>()
  const seen = new Uint8Array(L.count)
  let total = 0
  // Walk once around the table starting after an empty slot, so `runStart` (the first slot after
  // the last empty one) is always known; a full table has no gaps at all.
  let runStart = (empty + 1) & mask
  for (let k = 1; k <= L.capacity; k++) {
    const i = (empty + k) & mask
    const at = i * SLOT_LEN
    const len = v.getUint32(at + 12, true)
    if (len === 0) {
      runStart = (i + 1) & mask
      continue
    }
    const start = v.getUint32(at + 8, true)
    checkBucket(L, start, len)
    const lo = v.getUint32(at, true)
    const hash = (BigInt(v.getUint32(at + 4, true)) << 32n) | BigInt(lo)
    const home = lo & mask
    const gap = empty >= 0 && ((i - home) & mask) > ((i - runStart) & mask)
    if (gap || hashes.has(hash)) throw corrupt('hash slot not reachable by probing')
    hashes.add(hash)
    const ids = decodeBucket(L, T, start, len)
    let prev = -1
    for (const id of ids) {
      if (prev >= id) throw corrupt('hash bucket not in recording order')
      prev = id
      if (seen[id] !== 0) throw corrupt('record id in more than one hash bucket')
      seen[id] = 1
    }
    total += len
  }
  if (total !== L.count) throw corrupt('hash buckets do not cover every record')
}

/**
 * fields.rs `check_layout`: structural check of the match-fields table without decoding anything,
 * O(chunks + records). The chunks lie back to back from the end of the tables to the end of the
 * section (so no two share bytes), and the entries follow each other in order (record `i + 1` starts
 * where record `i` ends, or at offset 0 of the next chunk) inside their chunk. Without it, many
 * chunk entries naming the same highly compressed bytes (or records alternating between such
 * chunks, defeating the one-chunk cache) make `verify()` or an index rebuild decompress gigabytes
 * per kilobyte of file. Same checks, order and messages as the Rust.
 */
function checkFieldsLayout(L: Layout, F: Whole): void {
  let next = L.fieldsDataStart
  const rawLens = new Array<number>(L.chunks)
  for (let ci = 0; ci < L.chunks; ci++) {
    const c = locateChunk(L, F, ci)
    if (c.off !== next) throw corrupt(`fields chunk ${ci} does not follow the previous one`)
    next = c.off + c.size
    rawLens[ci] = c.rawLen
  }
  if (next !== L.fields.len) throw corrupt('fields chunks do not fill the fields section')
  const v = view(F.b)
  let pc = -1
  let end = 0
  for (let id = 0; id < L.count; id++) {
    const at = L.chunks * CHUNK_ENTRY_LEN + id * FIELD_ENTRY_LEN
    const ci = v.getUint32(at, true)
    const off = v.getUint32(at + 4, true)
    const len = v.getUint32(at + 8, true)
    // Record 0 starts chunk 0 (as if a record -1 ended chunk -1); no u32 overflow in plain numbers.
    const follows = (ci === pc && off === end) || (ci === pc + 1 && off === 0)
    if (!follows) throw corrupt(`match fields of record ${id} do not follow the previous record's`)
    // An empty value naming the chunk after the last one (written by older versions of the writer)
    // passes: readable as an error for that record only.
    const inside = ci < L.chunks ? off + len <= rawLens[ci]! : ci === L.chunks && len === 0
    if (!inside) throw corrupt(`match fields of record ${id} outside their chunk`)
    pc = ci
    end = off + len
  }
}

/** fields.rs `check_all`: the layout, every chunk decodes, every entry lies inside its chunk. */
function checkFields(L: Layout, F: Whole): void {
  checkFieldsLayout(L, F)
  const rawLens: number[] = []
  for (let ci = 0; ci < L.chunks; ci++) {
    const chunk = locateChunk(L, F, ci)
    if (!chunk.stored) decodeBlock(F.bytes(chunk.off, chunk.size), chunk.rawLen)
    rawLens.push(chunk.rawLen)
  }
  const v = view(F.b)
  for (let id = 0; id < L.count; id++) {
    const at = L.chunks * CHUNK_ENTRY_LEN + id * FIELD_ENTRY_LEN
    const raw = rawLens[v.getUint32(at, true)]
    if (raw === undefined) throw corrupt('fields entry names a missing chunk')
    if (v.getUint32(at + 4, true) + v.getUint32(at + 8, true) > raw) {
      throw corrupt('match fields outside their chunk')
    }
  }
}
