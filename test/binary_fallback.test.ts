/**
 * The TypeScript fallback reader against the native one: same results on valid files, same
 * `DVD_ERR_*` codes on hostile ones (truncations, seeded random mutations, foreign files).
 * XXH32/XXH64 are checked against the addon and against the checksums in real files.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import test from 'ava'
import { FallbackDvdReader, lz4Backend } from '../lib/formats/binary_fallback.js'
import {
  FOUND,
  NO_ROOM,
  NONE,
  NOT_SIMPLE,
  newResult,
  RESULT_LEN,
  SLOT_COUNT,
  SLOT_ID,
  SLOT_LAYOUT,
  SLOT_LENGTH,
  SLOT_POSITION,
  SLOT_SAME_REQUEST,
  SLOT_STATUS,
} from '../lib/formats/find_result.js'
import { Xxh32, xxh32, xxh64 } from '../lib/xxhash.js'
import { native } from './helpers/native.js'
import { prng } from './helpers/prng.js'
import { tempDir } from './helpers/tmp.js'

const MiB = 1 << 20

/** A MessagePack-looking value: a fixmap with a status and a repetitive text body of `n` bytes. */
function msgpackish(n: number, salt: number): Buffer {
  const text = Buffer.from(
    `{"id":${salt},"name":"item ${salt % 7}","tags":["a","b"]} `.repeat(Math.ceil(n / 40) + 1),
  )
  return Buffer.concat([Buffer.from([0x82, 0xa1, 0x73, 0xcc, 0xc8, 0xa1, 0x62]), text]).subarray(0, n)
}

interface Entry {
  record: Buffer
  key: Buffer
  fields: Buffer
}

function writeDvd(file: string, matchOn: string, entries: Entry[]): void {
  const w = new native.NativeDvdWriter(file, matchOn)
  for (const e of entries) w.add(e.record, e.key, e.fields)
  w.finish()
}

const dir = tempDir()

/** Mixed sizes: empty, exactly 4 MiB, > 4 MiB compressible and random, incompressible, duplicate keys, many chunks. */
function mixedEntries(): Entry[] {
  const r = prng(42)
  const keys = Array.from({ length: 40 }, (_, i) =>
    Buffer.from(`GET\u0000https://api.example.com/v1/items/${i}?q=${i % 3}`),
  )
  const out: Entry[] = [
    { record: Buffer.alloc(0), key: Buffer.alloc(0), fields: Buffer.alloc(0) },
    { record: msgpackish(4 * MiB, 1), key: keys[0]!, fields: Buffer.from('fields-0') },
    { record: msgpackish(4 * MiB + 1000, 2), key: keys[1]!, fields: r.bytes(20_000) },
    { record: r.bytes(4 * MiB + 5), key: keys[2]!, fields: Buffer.from('fields-2') },
    { record: r.bytes(5000), key: keys[0]!, fields: Buffer.alloc(0) },
    { record: Buffer.from([0xc0]), key: Buffer.from([0xff, 0x00]), fields: Buffer.from([0x90]) },
  ]
  for (let i = 0; i < 400; i++) {
    const size = [0, 1, 17, 300, 2000, 70_000][r.int(6)]!
    const record = r.next() < 0.3 ? r.bytes(size) : msgpackish(size, i)
    const fields = r.next() < 0.1 ? r.bytes(r.int(3000)) : msgpackish(20 + r.int(200), i % 13)
    out.push({ record, key: keys[r.int(keys.length)]!, fields })
  }
  out.push({ record: msgpackish(10, 5), key: keys[3]!, fields: Buffer.alloc(0) })
  return out
}

function smallEntries(): Entry[] {
  const r = prng(7)
  const keys = Array.from({ length: 9 }, (_, i) => Buffer.from(`POST /k/${i}`))
  return Array.from({ length: 24 }, (_, i) => ({
    record:
      i % 5 === 0 ? Buffer.alloc(0) : i % 3 === 0 ? r.bytes(20 + r.int(200)) : msgpackish(30 + r.int(400), i),
    key: keys[r.int(keys.length)]!,
    fields: msgpackish(r.int(60), i % 4),
  }))
}

const fixtures = (() => {
  let built:
    | { mixed: string; small: string; empty: string; single: string; entries: Map<string, Entry[]> }
    | undefined
  return () => {
    if (built) return built
    const entries = new Map<string, Entry[]>()
    const make = (name: string, matchOn: string, list: Entry[]) => {
      const file = join(dir, `${name}.dvd.lz4`)
      writeDvd(file, matchOn, list)
      entries.set(file, list)
      return file
    }
    built = {
      mixed: make('mixed', 'method,scheme,host,port,path,query', mixedEntries()),
      small: make('small', 'method,path,ünïcödé', smallEntries()),
      empty: make('empty', '', []),
      single: make('single', 'method', [
        { record: Buffer.alloc(0), key: Buffer.from('k'), fields: Buffer.from('f') },
      ]),
      entries,
    }
    return built
  }
})()

type Outcome = { ok: unknown } | { code: string }

/** Runs `fn`; a throw must be an `Error` with a `DVD_ERR_*` code that starts its message. */
function attempt(who: string, fn: () => unknown): Outcome {
  try {
    return { ok: fn() }
  } catch (e) {
    const code = (e as { code?: unknown }).code
    if (
      !(e instanceof Error) ||
      typeof code !== 'string' ||
      !code.startsWith('DVD_ERR_') ||
      !e.message.startsWith(`${code}: `)
    ) {
      throw new Error(
        `${who} threw something other than a DVD_ERR_* Error: ${String((e as Error)?.stack ?? e)}`,
      )
    }
    return { code }
  }
}

const show = (o: Outcome): string => {
  if ('code' in o) return o.code
  const v = o.ok
  if (v instanceof Uint8Array && !(v instanceof Uint32Array)) return `<${v.length} bytes>`
  return JSON.stringify(v instanceof Uint32Array ? [...v] : v)
}

type Reader = Pick<
  FallbackDvdReader,
  | 'count'
  | 'matchOn'
  | 'versionMajor'
  | 'versionMinor'
  | 'lookup'
  | 'record'
  | 'matchFields'
  | 'verify'
  | 'stats'
  | 'close'
>

/**
 * Opens `file` with both readers and runs the same calls on both; returns every difference. Loops are
 * capped at `limit` ids so a hostile count cannot make the test slow.
 */
function compareOn(file: string, keys: Buffer[], limit = 1000): string[] {
  const diffs: string[] = []
  const n = attempt('native', () => native.NativeDvdReader.open(file))
  const f = attempt('fallback', () => FallbackDvdReader.open(file))
  if ('code' in n || 'code' in f) {
    if ('ok' in n) (n.ok as Reader).close()
    if ('ok' in f) (f.ok as Reader).close()
    if (show(n) !== show(f)) diffs.push(`open: native ${show(n)} vs fallback ${show(f)}`)
    return diffs
  }
  const a = n.ok as Reader
  const b = f.ok as Reader
  const same = (what: string, call: (r: Reader) => unknown) => {
    const x = attempt('native', () => call(a))
    const y = attempt('fallback', () => call(b))
    const equal = 'ok' in x && 'ok' in y ? isDeepStrictEqual(x.ok, y.ok) : show(x) === show(y)
    if (!equal) diffs.push(`${what}: native ${show(x)} vs fallback ${show(y)}`)
  }
  same('count', (r) => r.count)
  same('matchOn', (r) => r.matchOn)
  same('versionMajor', (r) => r.versionMajor)
  same('versionMinor', (r) => r.versionMinor)
  same('stats', (r) => r.stats())
  for (const k of keys) same(`lookup ${k.toString('latin1')}`, (r) => r.lookup(k))
  for (const k of ['absent', '', 'GET /nope']) same(`lookup absent ${k}`, (r) => r.lookup(Buffer.from(k)))
  const count = Math.min(a.count, limit)
  for (let i = 0; i <= count; i++) {
    same(`record(${i})`, (r) => r.record(i))
    same(`matchFields(${i})`, (r) => r.matchFields(i))
  }
  for (const id of [-1, 2 ** 32 - 1, 0.5]) same(`record(${id})`, (r) => r.record(id))
  same('verify', (r) => r.verify())
  a.close()
  b.close()
  same('closed count', (r) => r.count)
  same('closed record', (r) => r.record(0))
  return diffs
}

const distinctKeys = (entries: Entry[]): Buffer[] => {
  const seen = new Map<string, Buffer>()
  for (const e of entries) seen.set(e.key.toString('hex'), e.key)
  return [...seen.values()]
}

// ------------------------------------------------------------------ xxhash

test('XXH64 equals the native xxh64Key for every length 0..100 and large inputs', (t) => {
  const r = prng(1)
  let checked = 0
  for (let len = 0; len <= 100; len++) {
    for (let k = 0; k < 30; k++) {
      const data = r.bytes(len)
      if (xxh64(data) !== native.xxh64Key(data)) t.fail(`length ${len}: ${data.toString('hex')}`)
      checked++
    }
  }
  for (const len of [255, 1024, 65_537, 3 * MiB + 7]) {
    const data = r.bytes(len)
    t.is(xxh64(data), native.xxh64Key(data), `length ${len}`)
    // A subarray at an odd offset of a larger buffer must not change anything.
    const inner = Buffer.concat([Buffer.from([1, 2, 3]), data]).subarray(3)
    t.is(xxh64(inner), native.xxh64Key(data))
  }
  t.is(xxh64(Buffer.alloc(0)), 0xef46db3751d8e999n)
  t.is(xxh64(Buffer.from('a')), 0xd24ec4f1a98c6e5bn)
  t.is(checked, 101 * 30)
})

test('XXH32 matches reference vectors; streaming equals one-shot', (t) => {
  t.is(xxh32(Buffer.alloc(0)), 0x02cc5d05)
  t.is(xxh32(Buffer.from('a')), 0x550d7456)
  t.is(xxh32(Buffer.from('abc')), 0x32d153ff)
  t.is(xxh32(Buffer.from('Nobody inspects the spammish repetition')), 0xe2293b2f)
  t.is(xxh64(Buffer.from('Nobody inspects the spammish repetition')), 0xfbcea83c8a378bf1n)
  const r = prng(2)
  for (let len = 0; len < 300; len += 7) {
    const data = r.bytes(len)
    const s = new Xxh32()
    let at = 0
    while (at < len) {
      const step = 1 + r.int(40)
      s.update(data.subarray(at, at + step))
      at += step
    }
    t.is(s.digest(), xxh32(data), `length ${len}`)
  }
})

test('XXH32 reproduces every LZ4 checksum of a real file (header, blocks, content)', (t) => {
  const { mixed, entries } = fixtures()
  const bytes = readFileSync(mixed)
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  t.is(bytes[214], (xxh32(bytes.subarray(204, 214)) >>> 8) & 0xff)
  let p = 215
  let blocks = 0
  for (;;) {
    const size = v.getUint32(p, true)
    if (size === 0) break
    const c = size & 0x7fffffff
    const data = bytes.subarray(p + 4, p + 4 + c)
    t.is(v.getUint32(p + 4 + c, true), xxh32(data))
    p += 8 + c
    blocks++
  }
  const content = new Xxh32()
  for (const e of entries.get(mixed)!) content.update(e.record)
  t.is(v.getUint32(p + 4, true), content.digest())
  t.true(blocks > 300)
  const example = new URL('../../native/target/format-example.dvd.lz4', import.meta.url)
  if (existsSync(example))
    t.deepEqual(compareOn(example.pathname, [Buffer.from('GET /a'), Buffer.from('GET /b')]), [])
})

// ------------------------------------------------------------------ valid files

test('valid files: the fallback returns exactly what the native reader returns', (t) => {
  const fx = fixtures()
  for (const file of [fx.mixed, fx.small, fx.empty, fx.single]) {
    const list = fx.entries.get(file)!
    t.deepEqual(compareOn(file, distinctKeys(list)), [], file)
    // And both return what was written.
    const fb = FallbackDvdReader.open(file)
    t.is(fb.count, list.length)
    list.forEach((e, i) => {
      t.true(fb.record(i).equals(e.record))
      t.true(fb.matchFields(i).equals(e.fields))
    })
    // Random access order, to exercise the match-fields chunk cache both ways.
    for (let i = list.length - 1; i >= 0; i -= 3) t.true(fb.matchFields(i).equals(list[i]!.fields))
    fb.verify()
    fb.close()
  }
})

test('records whose match fields are all empty: both readers return empty match fields', (t) => {
  // The writer writes an empty stored chunk when every match-fields value is empty (the entries name
  // chunk 0), so matchFields() is an empty Buffer and verify() passes on both readers.
  const file = join(dir, 'no-fields.dvd.lz4')
  const list = [0, 1].map((i) => ({
    record: Buffer.from(`r${i}`),
    key: Buffer.from(`k${i}`),
    fields: Buffer.alloc(0),
  }))
  writeDvd(file, 'method', list)
  t.deepEqual(compareOn(file, distinctKeys(list)), [])
  const n = native.NativeDvdReader.open(file)
  const r = FallbackDvdReader.open(file)
  t.is(r.stats().fieldsChunkCount, 1)
  t.true(r.record(1).equals(list[1]!.record))
  for (const reader of [n, r]) {
    for (const id of [0, 1]) {
      const got = reader.matchFields(id)
      t.true(Buffer.isBuffer(got))
      t.is(got.length, 0)
    }
    reader.verify()
    reader.close()
  }
})

test('close is idempotent and later calls throw DVD_ERR_CLOSED', (t) => {
  const r = FallbackDvdReader.open(fixtures().small)
  r.close()
  r.close()
  for (const call of [
    () => r.count,
    () => r.matchOn,
    () => r.versionMajor,
    () => r.versionMinor,
    () => r.lookup(Buffer.from('x')),
    () => r.record(0),
    () => r.matchFields(0),
    () => r.verify(),
    () => r.stats(),
  ]) {
    t.like(attempt('fallback', call), { code: 'DVD_ERR_CLOSED' })
  }
})

test('an open reader keeps reading the old file after it is replaced by rename', (t) => {
  const file = join(dir, 'replaced.dvd.lz4')
  const old = smallEntries()
  writeDvd(file, 'm', old)
  const r = FallbackDvdReader.open(file)
  writeDvd(file, 'other', [{ record: Buffer.from('new'), key: Buffer.from('n'), fields: Buffer.alloc(0) }])
  t.is(r.matchOn, 'm')
  for (const [i, e] of old.entries()) t.true(r.record(i).equals(e.record))
  r.verify()
  r.close()
  const fresh = FallbackDvdReader.open(file)
  t.is(fresh.record(0).toString(), 'new')
  fresh.close()
})

// ------------------------------------------------------------------ hostile files

/** Writes `bytes` to a fresh file (new inode: nothing can still map the previous one). */
function hostile(name: string, bytes: Uint8Array): string {
  const file = join(dir, 'hostile', name)
  mkdirSync(join(dir, 'hostile'), { recursive: true })
  writeFileSync(`${file}.tmp`, bytes)
  renameSync(`${file}.tmp`, file)
  return file
}

test('missing, empty, directory and foreign files', (t) => {
  const keys = [Buffer.from('k')]
  t.deepEqual(compareOn(join(dir, 'does-not-exist.dvd.lz4'), keys), [])
  t.like(
    attempt('fallback', () => FallbackDvdReader.open(join(dir, 'nope'))),
    { code: 'DVD_ERR_IO' },
  )
  t.like(
    attempt('fallback', () => FallbackDvdReader.open(dir)),
    { code: 'DVD_ERR_IO' },
  )
  const cases: [string, Uint8Array, string][] = [
    ['empty', new Uint8Array(0), 'DVD_ERR_NOT_DVD'],
    ['zip', Buffer.from('PK\u0003\u0004 not a dvd at all, just some zip-looking bytes'), 'DVD_ERR_NOT_DVD'],
    ['text', Buffer.from('hello\n'), 'DVD_ERR_NOT_DVD'],
    ['json', Buffer.from('[]'), 'DVD_ERR_NOT_DVD'],
    ['magic-only', Buffer.from([0x5d, 0x2a, 0x4d, 0x18]), 'DVD_ERR_TRUNCATED'],
    ['one-byte', Buffer.from([0x5d]), 'DVD_ERR_TRUNCATED'],
    ['zeros', Buffer.alloc(4096), 'DVD_ERR_NOT_DVD'],
  ]
  for (const [name, bytes, code] of cases) {
    const file = hostile(name, bytes)
    t.deepEqual(compareOn(file, keys), [], name)
    t.like(
      attempt('fallback', () => FallbackDvdReader.open(file)),
      { code },
      name,
    )
  }
})

/** Offsets of the descriptor copies, and the blocks of the data frame (to re-seal their checksums). */
function layoutOf(bytes: Buffer) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const blocks: { data: number; len: number }[] = []
  let p = 215
  for (let size = v.getUint32(p, true); size !== 0; size = v.getUint32(p, true)) {
    const c = size & 0x7fffffff
    blocks.push({ data: p + 4, len: c })
    p += 8 + c
  }
  return { descs: [8, bytes.length - 192], blocks, indexOff: Number(v.getBigUint64(8 + 56, true)) }
}

/**
 * Recomputes the checksums a mutation broke (block XXH32s, section XXH64s, descriptor XXH64s), so
 * mutated structure reaches the deeper checks instead of failing on a checksum.
 */
function reseal(buf: Buffer, base: ReturnType<typeof layoutOf>): void {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  for (const b of base.blocks) {
    if (b.data + b.len + 4 <= buf.length)
      v.setUint32(b.data + b.len, xxh32(buf.subarray(b.data, b.data + b.len)), true)
  }
  if (buf.length >= 215) buf[214] = (xxh32(buf.subarray(204, 214)) >>> 8) & 0xff
  for (const d of base.descs) {
    if (d + 192 > buf.length) continue
    // Piece checksums (one XXH64 per 4 KiB) of the record, hash and fields sections go to the
    // checksum directory at `dir_off`; each section's descriptor checksum covers its list there.
    let dirAt = v.getBigUint64(d + 176, true)
    for (let i = 0; i < 4; i++) {
      const at = d + 80 + i * 24
      const off = v.getBigUint64(at, true)
      const len = v.getBigUint64(at + 8, true)
      if (off + len > BigInt(buf.length)) continue
      const sec = buf.subarray(Number(off), Number(off + len))
      if (i === 3) {
        v.setBigUint64(at + 16, xxh64(sec), true)
        continue
      }
      const list = Buffer.alloc(Math.ceil(sec.length / 4096) * 8)
      for (let p = 0; p < sec.length; p += 4096) {
        list.writeBigUInt64LE(xxh64(sec.subarray(p, p + 4096)), (p / 4096) * 8)
      }
      if (dirAt + BigInt(list.length) <= BigInt(buf.length)) list.copy(buf, Number(dirAt))
      dirAt += BigInt(list.length)
      v.setBigUint64(at + 16, xxh64(list), true)
    }
    v.setBigUint64(d + 184, xxh64(buf.subarray(d, d + 184)), true)
  }
}

test('truncation at every offset of the header and footer frames and a sample of the index', (t) => {
  const { small, entries } = fixtures()
  const bytes = readFileSync(small)
  const keys = distinctKeys(entries.get(small)!)
  const { indexOff } = layoutOf(bytes)
  const cuts = new Set<number>()
  for (let k = 0; k <= 200; k++) cuts.add(k)
  for (let k = bytes.length - 200; k < bytes.length; k++) cuts.add(k)
  for (let k = indexOff; k < bytes.length - 200; k += 7) cuts.add(k)
  for (let k = 200; k < indexOff; k += 61) cuts.add(k)
  const diffs: string[] = []
  for (const k of cuts) {
    const file = hostile('cut.dvd.lz4', bytes.subarray(0, k))
    for (const d of compareOn(file, keys)) diffs.push(`cut at ${k}: ${d}`)
    const f = attempt('fallback', () => FallbackDvdReader.open(file))
    if ('ok' in f) diffs.push(`cut at ${k}: fallback opened a truncated file`)
  }
  t.deepEqual(diffs.slice(0, 20), [])
  t.true(cuts.size > 450)
})

/**
 * `iterations` seeded random mutations of the small fixture (bit flips, bytes, truncations, u32/u64
 * writes, half of them in the descriptors and the index, most re-sealed so they reach past the
 * checksums), compared on both readers. Returns the differences and the fallback's open+verify codes.
 */
function randomMutationDiffs(
  iterations: number,
  seed: number,
): { diffs: string[]; codes: Map<string, number> } {
  const { small, entries } = fixtures()
  const bytes = readFileSync(small)
  const keys = distinctKeys(entries.get(small)!)
  const base = layoutOf(bytes)
  const r = prng(seed)
  const interesting = [
    0,
    1,
    7,
    8,
    16,
    0x7fffffff,
    0x80000000,
    0xffffffff,
    4 << 20,
    (4 << 20) + 1,
    24,
    200,
    215,
  ]
  const diffs: string[] = []
  const codes = new Map<string, number>()
  for (let iter = 0; iter < iterations; iter++) {
    const buf = Buffer.from(bytes)
    const kind = r.int(5)
    // Half the mutations land in the descriptors and the index, where the structure is.
    const where = r.next() < 0.5 ? r.int(buf.length) : base.indexOff + r.int(buf.length - base.indexOff)
    let out: Buffer = buf
    let what: string
    if (kind === 0) {
      const bit = r.int(8)
      buf[where] = buf[where]! ^ (1 << bit)
      what = `flip bit ${bit} at ${where}`
    } else if (kind === 1) {
      const value = r.int(256)
      buf[where] = value
      what = `set byte ${where} = ${value}`
    } else if (kind === 2) {
      out = buf.subarray(0, where)
      what = `truncate to ${where}`
    } else {
      const at = where & ~3
      const value = r.next() < 0.7 ? interesting[r.int(interesting.length)]! : r.int(2 ** 32)
      if (at + 8 > buf.length) continue
      if (kind === 3) buf.writeUInt32LE(value, at)
      else buf.writeBigUInt64LE(BigInt(value) * (r.next() < 0.2 ? 2n ** 32n : 1n), at & ~7)
      what = `write ${kind === 3 ? 'u32' : 'u64'} ${value} at ${at}`
    }
    if (kind !== 2 && r.next() < 0.7) {
      // Same change in both descriptor copies, so they still agree.
      const [head, foot] = base.descs as [number, number]
      if (where >= head && where < head + 192)
        buf.copy(buf, foot + (where & ~7) - head, where & ~7, (where & ~7) + 8)
      else if (where >= foot && where < foot + 192)
        buf.copy(buf, head + (where & ~7) - foot, where & ~7, (where & ~7) + 8)
      reseal(buf, base)
      what += ' (resealed)'
    }
    const file = hostile(`m${iter % 4}.dvd.lz4`, out)
    let found: string[]
    try {
      found = compareOn(file, keys, 64)
    } catch (e) {
      found = [String(e)]
    }
    for (const d of found) diffs.push(`#${iter} ${what}: ${d}`)
    const f = attempt('fallback', () => {
      const rd = FallbackDvdReader.open(file)
      try {
        rd.verify()
      } finally {
        rd.close()
      }
      return 'verified'
    })
    const c = 'code' in f ? f.code : 'ok'
    codes.set(c, (codes.get(c) ?? 0) + 1)
    if (iter % 4 === 3) for (let k = 0; k < 4; k++) unlinkSync(join(dir, 'hostile', `m${k}.dvd.lz4`))
  }
  return { diffs, codes }
}

test('2,000 seeded random mutations behave identically on both readers', (t) => {
  const { diffs, codes } = randomMutationDiffs(2000, 20240601)
  t.log('outcomes of open+verify:', Object.fromEntries(codes))
  t.deepEqual(diffs.slice(0, 20), [])
  // The mutations really reach past the checksums.
  t.true((codes.get('DVD_ERR_CORRUPT') ?? 0) > 100)
})

/**
 * Seeded mutations of the block headers, checksums and first data bytes of a file with multi-block
 * records (plus some elsewhere in the data frame), compared on both readers; returns the differences.
 */
function multiBlockDiffs(
  t: { is(a: unknown, b: unknown): void },
  iterations: number,
  seed: number,
): string[] {
  const file = join(dir, 'multi.dvd.lz4')
  const r = prng(99)
  const list: Entry[] = [
    { record: msgpackish(300, 1), key: Buffer.from('a'), fields: Buffer.from('fa') },
    { record: msgpackish(4 * MiB + 1000, 2), key: Buffer.from('b'), fields: Buffer.from('fb') },
    { record: Buffer.alloc(0), key: Buffer.from('a'), fields: Buffer.from('fc') },
    { record: r.bytes(3000), key: Buffer.from('c'), fields: Buffer.from('fd') },
    { record: msgpackish(4 * MiB, 3), key: Buffer.from('b'), fields: Buffer.from('fe') },
  ]
  if (!existsSync(file)) writeDvd(file, 'method', list)
  const bytes = readFileSync(file)
  const base = layoutOf(bytes)
  t.is(base.blocks.length, 5)
  const keys = distinctKeys(list)
  // Block size fields, checksums and the first bytes of each block's data.
  const hot = base.blocks.flatMap((b) => [b.data - 4, b.data, b.data + b.len])
  const diffs: string[] = []
  const m = seed === 99 ? r : prng(seed)
  for (let iter = 0; iter < iterations; iter++) {
    const buf = Buffer.from(bytes)
    const where = m.next() < 0.6 ? hot[m.int(hot.length)]! + m.int(6) : 200 + m.int(base.indexOff - 200)
    const value = m.next() < 0.5 ? m.int(256) : buf[where]! ^ (1 << m.int(8))
    buf[where] = value
    if (m.next() < 0.8) reseal(buf, base)
    const mutated = hostile(`multi${iter % 2}.dvd.lz4`, buf)
    for (const d of compareOn(mutated, keys)) diffs.push(`#${iter} byte ${where} = ${value}: ${d}`)
  }
  return diffs
}

test('150 seeded mutations around the blocks of multi-block records', (t) => {
  t.deepEqual(multiBlockDiffs(t, 150, 99).slice(0, 20), [])
})

test('verify checks a full-run hash table with long probe chains in linear time', (t) => {
  // 262,144 occupied slots in one run, all with home slot 0: probing from every slot would be 2^35
  // slot reads, minutes of work, where a linear check takes well under a second. Valid as a table
  // (every slot is reachable), then broken by one gap.
  t.timeout(90_000, 'verify must not probe every chain from its home slot')
  const n = 1 << 18
  const file = join(dir, 'chains.dvd.lz4')
  const list = Array.from({ length: n }, (_, i) => ({
    record: Buffer.from([i & 0xff]),
    key: Buffer.from(`k${i}`),
    fields: Buffer.from([1]),
  }))
  writeDvd(file, 'm', list)
  const bytes = readFileSync(file)
  const base = layoutOf(bytes)
  const hashOff = Number(bytes.readBigUInt64LE(8 + 80 + 24))
  const capacity = bytes.readUInt32LE(8 + 72)
  t.is(capacity, 2 * n)
  for (let s = 0; s < capacity; s++) {
    const at = hashOff + s * 16
    bytes.writeUInt32LE(0, at) // low half: home slot 0
    bytes.writeUInt32LE(s < n ? s + 1 : 0, at + 4)
    bytes.writeUInt32LE(s < n ? s : 0, at + 8)
    bytes.writeUInt32LE(s < n ? 1 : 0, at + 12)
  }
  for (let id = 0; id < n; id++) bytes.writeUInt32LE(id, hashOff + capacity * 16 + id * 4)
  reseal(bytes, base)
  const good = FallbackDvdReader.open(hostile('chains.dvd.lz4', bytes))
  good.verify()
  t.is(good.stats().distinctKeys, n)
  good.close()
  // Emptying slot 1000 cuts every later slot off from its home slot 0.
  bytes.writeUInt32LE(0, hashOff + 1000 * 16 + 12)
  reseal(bytes, base)
  const broken = FallbackDvdReader.open(hostile('chains-gap.dvd.lz4', bytes))
  t.like(
    attempt('fallback', () => broken.verify()),
    { code: 'DVD_ERR_CORRUPT' },
  )
  broken.close()
})

test('newer major version is refused; newer minor version is read', (t) => {
  const { small, entries } = fixtures()
  const bytes = readFileSync(small)
  const base = layoutOf(bytes)
  const keys = distinctKeys(entries.get(small)!)
  const withVersion = (major: number, minor: number) => {
    const buf = Buffer.from(bytes)
    for (const d of base.descs) {
      buf.writeUInt16LE(major, d + 6)
      buf.writeUInt16LE(minor, d + 8)
    }
    reseal(buf, base)
    return hostile(`v${major}.${minor}.dvd.lz4`, buf)
  }
  const v2 = withVersion(2, 0)
  t.deepEqual(compareOn(v2, keys), [])
  const err = t.throws(() => FallbackDvdReader.open(v2))
  t.is((err as Error & { code: string }).code, 'DVD_ERR_VERSION')
  t.true(
    err.message.startsWith('DVD_ERR_VERSION: ') && err.message.includes('2.0') && err.message.includes('1.0'),
  )
  const v0 = withVersion(0, 9)
  t.deepEqual(compareOn(v0, keys), [])
  const v11 = withVersion(1, 1)
  t.deepEqual(compareOn(v11, keys), [])
  const r = FallbackDvdReader.open(v11)
  t.is(r.versionMinor, 1)
  r.verify()
  r.close()
})

// ------------------------------------------------------------------ match-fields layout

/** Offsets of the match-fields section of a file (descriptor at 8: sections at +80, chunk count at +76). */
function fieldsOf(bytes: Buffer) {
  const at = 8 + 80 + 2 * 24
  const off = Number(bytes.readBigUInt64LE(at))
  const chunks = bytes.readUInt32LE(8 + 76)
  const count = Number(bytes.readBigUInt64LE(8 + 24))
  return {
    off,
    len: Number(bytes.readBigUInt64LE(at + 8)),
    chunks,
    count,
    chunkAt: (ci: number) => off + ci * 16,
    entryAt: (id: number) => off + chunks * 16 + id * 12,
  }
}

test('a match-fields table with repeated, overlapping or out-of-order chunks is refused by both readers', (t) => {
  // 16 KiB of zeros per record: one highly compressed chunk each, the shape that made verify() or an
  // index rebuild decompress far more than the file holds when chunks could share their bytes.
  const r = prng(5)
  const list: Entry[] = Array.from({ length: 24 }, (_, i) => ({
    record: msgpackish(50 + i, i),
    key: Buffer.from(`k${i % 5}`),
    fields: i % 6 === 5 ? r.bytes(9000) : i % 4 === 3 ? Buffer.from(`small ${i}`) : Buffer.alloc(16 * 1024),
  }))
  const file = join(dir, 'fields-layout.dvd.lz4')
  writeDvd(file, 'method', list)
  const bytes = readFileSync(file)
  const base = layoutOf(bytes)
  const F = fieldsOf(bytes)
  t.true(F.chunks > 10)
  t.is(F.count, list.length)
  const keys = distinctKeys(list)
  t.deepEqual(compareOn(file, keys), [])

  const cases: [string, string, (b: Buffer) => void][] = [
    [
      'every chunk names the bytes of chunk 0',
      'fields chunk 1 does not follow the previous one',
      (b) => {
        for (let ci = 1; ci < F.chunks; ci++) b.copy(b, F.chunkAt(ci), F.chunkAt(0), F.chunkAt(0) + 16)
        for (let id = 0; id < F.count; id++) {
          b.writeUInt32LE(id % F.chunks, F.entryAt(id))
          b.writeUInt32LE(0, F.entryAt(id) + 4)
        }
      },
    ],
    [
      'chunk 2 repeats chunk 1',
      'fields chunk 2 does not follow the previous one',
      (b) => b.copy(b, F.chunkAt(2), F.chunkAt(1), F.chunkAt(1) + 16),
    ],
    [
      'chunk 3 starts 4 bytes into chunk 2',
      'fields chunk 3 does not follow the previous one',
      (b) => b.writeBigUInt64LE(b.readBigUInt64LE(F.chunkAt(3)) - 4n, F.chunkAt(3)),
    ],
    [
      'a gap after the last chunk',
      'fields chunks do not fill the fields section',
      (b) => {
        const last = F.chunkAt(F.chunks - 1)
        const size = b.readUInt32LE(last + 8)
        b.writeUInt32LE(((size & 0x80000000) | ((size & 0x7fffffff) - 1)) >>> 0, last + 8)
        b.writeUInt32LE(b.readUInt32LE(last + 12) - 1, last + 12)
      },
    ],
    [
      'record 4 re-reads the match fields of record 3',
      'match fields of record 4 do not follow the previous record',
      (b) => b.copy(b, F.entryAt(4), F.entryAt(3), F.entryAt(3) + 12),
    ],
    [
      'record 6 goes back to chunk 0',
      'match fields of record 6 do not follow the previous record',
      (b) => {
        b.writeUInt32LE(0, F.entryAt(6))
        b.writeUInt32LE(0, F.entryAt(6) + 4)
      },
    ],
    [
      'record 0 does not start chunk 0',
      'match fields of record 0 do not follow the previous record',
      (b) => b.writeUInt32LE(1, F.entryAt(0) + 4),
    ],
    [
      'the last record longer than its chunk',
      `match fields of record ${F.count - 1} outside their chunk`,
      (b) => b.writeUInt32LE(b.readUInt32LE(F.entryAt(F.count - 1) + 8) + 1, F.entryAt(F.count - 1) + 8),
    ],
  ]
  for (const [name, message, mutate] of cases) {
    const buf = Buffer.from(bytes)
    mutate(buf)
    reseal(buf, base)
    const mutated = hostile('fields-layout.dvd.lz4', buf)
    t.deepEqual(compareOn(mutated, keys), [], name)
    // Opening stays cheap (the table is checked on first use); records still read.
    const n = native.NativeDvdReader.open(mutated)
    const f = FallbackDvdReader.open(mutated)
    for (const reader of [n, f]) {
      t.true(reader.record(1).equals(list[1]!.record), name)
      for (const id of [0, 1, F.count - 1]) {
        t.like(
          attempt('reader', () => reader.matchFields(id)),
          { code: 'DVD_ERR_CORRUPT' },
          name,
        )
      }
      const err = t.throws(() => reader.verify(), undefined, name)
      t.is((err as Error & { code?: string }).code, 'DVD_ERR_CORRUPT', name)
      t.true(err.message.includes(message), `${name}: ${err.message}`)
      const again = t.throws(() => reader.matchFields(2), undefined, name)
      t.true(again.message.includes(message), `${name}: ${again.message}`)
      reader.close()
    }
  }
})

// ------------------------------------------------------------------ TypeScript LZ4 decoder

/** Runs `fn` with the fallback decoding LZ4 blocks in TypeScript (`DVD_RW_LZ4=ts`, read per block). */
function withTsLz4<T>(fn: () => T): T {
  const before = process.env.DVD_RW_LZ4
  process.env.DVD_RW_LZ4 = 'ts'
  try {
    return fn()
  } finally {
    if (before === undefined) delete process.env.DVD_RW_LZ4
    else process.env.DVD_RW_LZ4 = before
  }
}

test('with the TypeScript LZ4 decoder (DVD_RW_LZ4=ts) the fallback still matches native', (t) => {
  t.is(lz4Backend(), 'lz4-napi')
  const fx = fixtures()
  const diffs = withTsLz4(() => {
    t.is(lz4Backend(), 'typescript')
    const out: string[] = []
    for (const file of [fx.mixed, fx.small, fx.empty, fx.single]) {
      for (const d of compareOn(file, distinctKeys(fx.entries.get(file)!))) out.push(`${file}: ${d}`)
    }
    out.push(...multiBlockDiffs(t, 150, 4242))
    out.push(...randomMutationDiffs(500, 777).diffs)
    return out
  })
  t.is(lz4Backend(), 'lz4-napi')
  t.deepEqual(diffs.slice(0, 20), [])
})

// ------------------------------------------------------------------ lazily verified index pieces

test('a corrupted 4 KiB piece of the record, hash or fields table is found on first use, not at open', (t) => {
  const n = 3000
  const list: Entry[] = Array.from({ length: n }, (_, i) => ({
    record: Buffer.from(`record ${i}`),
    key: Buffer.from(`GET /${i % 7}`),
    fields: Buffer.from(`method=GET,path=/${i % 7},i=${i}`),
  }))
  const file = join(dir, 'pieces.dvd.lz4')
  writeDvd(file, 'method,path', list)
  const bytes = readFileSync(file)
  const sec = (i: number) => ({
    off: Number(bytes.readBigUInt64LE(8 + 80 + i * 24)),
    len: Number(bytes.readBigUInt64LE(8 + 88 + i * 24)),
  })
  const [rec, hash, fields] = [sec(0), sec(1), sec(2)]
  const capacity = bytes.readUInt32LE(8 + 72)
  // The slot of key `GET /0`.
  const key = Buffer.from('GET /0')
  const h = native.xxh64Key(key)
  let slot = Number(h & BigInt(capacity - 1))
  while (bytes.readBigUInt64LE(hash.off + slot * 16) !== h) slot = (slot + 1) % capacity
  const cases: [string, number, string, (r: Reader) => unknown, (r: Reader) => unknown][] = [
    [
      'record table',
      rec.off + 2000 * 16 + 3,
      `record table chunk ${Math.floor((2000 * 16) / 4096)}`,
      (r) => r.record(2000),
      (r) => r.record(0),
    ],
    [
      'hash table',
      hash.off + slot * 16 + 2,
      `hash table chunk ${Math.floor((slot * 16) / 4096)}`,
      (r) => r.lookup(key),
      (r) => r.record(5),
    ],
    [
      'fields table',
      fields.off + fields.len - 1,
      `fields table chunk ${Math.floor((fields.len - 1) / 4096)}`,
      (r) => r.matchFields(n - 1),
      (r) => r.matchFields(0),
    ],
  ]
  for (const [name, at, message, touch, other] of cases) {
    const buf = Buffer.from(bytes)
    buf[at] = buf[at]! ^ 0x40
    const mutated = hostile('pieces.dvd.lz4', buf)
    t.deepEqual(compareOn(mutated, [key, Buffer.from('GET /3')], 50), [], name)
    for (const open of [() => native.NativeDvdReader.open(mutated), () => FallbackDvdReader.open(mutated)]) {
      const r = open() // opens: the piece is not read yet
      t.true('ok' in attempt('reader', () => other(r)), name)
      const err = t.throws(() => touch(r), undefined, name)
      t.is((err as Error & { code?: string }).code, 'DVD_ERR_CHECKSUM', name)
      t.is(err.message, `DVD_ERR_CHECKSUM: index checksum mismatch (${message})`, name)
      const v = t.throws(() => r.verify(), undefined, name)
      t.is(v.message, `DVD_ERR_CHECKSUM: index checksum mismatch (${message})`, name)
      r.close()
    }
  }
})

test('find and read give what lookup and record give, in both readers, and ask for room when out of it', (t) => {
  const { mixed, entries } = fixtures()
  const list = entries.get(mixed)!
  for (const reader of [native.NativeDvdReader.open(mixed), FallbackDvdReader.open(mixed)]) {
    const result = newResult()
    const scratch = Buffer.alloc(16 * MiB)
    for (let id = 0; id < list.length; id++) {
      reader.read(id, scratch, 0, result)
      t.is(result[SLOT_STATUS], FOUND)
      t.true(scratch.subarray(0, result[SLOT_LENGTH]).equals(reader.record(id)))
    }
    const big = list.findIndex((e) => e.record.length > 1024)
    const want = list[big]!.record.length
    reader.read(big, Buffer.alloc(1), 0, result)
    t.deepEqual([result[SLOT_STATUS], result[SLOT_LENGTH]], [NO_ROOM, want])
    // From an offset on: the bytes before it are left alone, and the room counted is what follows it.
    const target = Buffer.alloc(want + 7, 0xee)
    reader.read(big, target, 7, result)
    t.deepEqual([result[SLOT_STATUS], result[SLOT_LENGTH]], [FOUND, want])
    t.true(target.subarray(0, 7).equals(Buffer.alloc(7, 0xee)))
    t.true(target.subarray(7).equals(reader.record(big)))
    reader.read(big, target, 8, result)
    t.is(result[SLOT_STATUS], NO_ROOM)
    t.throws(() => reader.read(big, target, target.length + 1, result), { message: /DVD_ERR_RANGE/ })
    // find without play counts: the candidate at each position, read at the offset.
    for (const entry of list) {
      const key = entry.key.toString('latin1')
      if (key !== entry.key.toString('utf8')) continue
      const expected = [...reader.lookup(entry.key)]
      for (const [position, id] of expected.entries()) {
        const first = Buffer.alloc(entry.record.length + 100 + 5)
        reader.find(key, '', '', '', position, null, first, 5, result)
        t.is(result[SLOT_COUNT], expected.length)
        t.deepEqual([result[SLOT_POSITION], result[SLOT_ID]], [position, id])
        const record = reader.record(id)
        if (record.length <= first.length - 5) {
          t.is(result[SLOT_STATUS], FOUND)
          t.true(first.subarray(5, 5 + record.length).equals(record))
        } else t.is(result[SLOT_STATUS], NO_ROOM)
      }
      reader.find(key, '', '', '', expected.length, null, scratch, 0, result)
      t.is(result[SLOT_STATUS], NONE)
    }
    reader.find('no such key', '', '', '', 0, null, scratch, 0, result)
    t.deepEqual([result[SLOT_STATUS], result[SLOT_COUNT]], [NONE, 0])
    // With play counts: the first never played, else the last.
    const dup = list.find(
      (e) => reader.lookup(e.key).length > 1 && e.key.toString('latin1') === e.key.toString('utf8'),
    )
    if (dup) {
      const key = dup.key.toString('latin1')
      const ids = [...reader.lookup(dup.key)]
      const plays = new Uint32Array(list.length)
      for (const id of ids) {
        reader.find(key, '', '', '', 0, plays, scratch, 0, result)
        t.is(result[SLOT_ID], id)
        plays[id] = 1
      }
      reader.find(key, '', '', '', 0, plays, scratch, 0, result)
      t.deepEqual([result[SLOT_STATUS], result[SLOT_ID]], [FOUND, ids.at(-1)])
    }
    reader.close()
  }
})

test('the result slots the TypeScript side reads are those the addon exports', (t) => {
  const exported = native as unknown as Record<string, number>
  t.deepEqual(
    [
      exported.FIND_SLOT_STATUS,
      exported.FIND_SLOT_COUNT,
      exported.FIND_SLOT_POSITION,
      exported.FIND_SLOT_ID,
      exported.FIND_SLOT_LENGTH,
      exported.FIND_SLOT_SAME_REQUEST,
      exported.FIND_SLOT_LAYOUT,
      exported.FIND_RESULT_LEN,
      exported.FIND_FOUND,
      exported.FIND_NONE,
      exported.FIND_NOT_SIMPLE,
      exported.FIND_NO_ROOM,
    ],
    [
      SLOT_STATUS,
      SLOT_COUNT,
      SLOT_POSITION,
      SLOT_ID,
      SLOT_LENGTH,
      SLOT_SAME_REQUEST,
      SLOT_LAYOUT,
      RESULT_LEN,
      FOUND,
      NONE,
      NOT_SIMPLE,
      NO_ROOM,
    ],
  )
})
