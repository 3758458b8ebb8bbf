/**
 * The pure-TypeScript LZ4 block decoder (`lib/lz4_block.ts`) against lz4-napi (lz4_flex, as the
 * native reader) and the native reader: identical output on real blocks, the same verdict on
 * corrupted ones, and only `DVD_ERR_CORRUPT` errors.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import test from 'ava'
import { decompressBlock, decompressBlockInto } from '../lib/lz4_block.js'
import { native } from './helpers/native.js'
import { prng } from './helpers/prng.js'
import { tempDir } from './helpers/tmp.js'

const MiB = 1 << 20

const lz4 = createRequire(import.meta.url)('lz4-napi') as {
  compressSync(data: Buffer): Buffer
  uncompressSync(data: Uint8Array): Buffer
}

/** Text with long and short repeats, overlapping matches (runs) and some noise. */
function compressible(n: number, seed: number): Buffer {
  const r = prng(seed)
  const parts: Buffer[] = []
  let len = 0
  while (len < n) {
    const k = r.int(4)
    const part =
      k === 0
        ? Buffer.from(`{"id":${r.int(1000)},"name":"item ${r.int(7)}","tags":["a","b"]} `)
        : k === 1
          ? Buffer.alloc(1 + r.int(300), r.int(256))
          : k === 2
            ? Buffer.from('abcabcabcab'.repeat(1 + r.int(20)))
            : r.bytes(r.int(40))
    parts.push(part)
    len += part.length
  }
  return Buffer.concat(parts).subarray(0, n)
}

/** A raw LZ4 block of `raw` (lz4-napi writes lz4_flex's size-prepended form: drop the size). */
const compressBlock = (raw: Buffer): Buffer => lz4.compressSync(raw).subarray(4)

/** lz4-napi decoding `block` as the fallback does: exactly `want` bytes or an error. */
function napiDecode(block: Uint8Array, want: number): Buffer {
  const input = Buffer.allocUnsafe(4 + block.length)
  input.writeUInt32LE(want, 0)
  input.set(block, 4)
  const out = lz4.uncompressSync(input)
  if (out.length !== want) throw new Error('wrong length')
  return out
}

type Outcome = { ok: Buffer } | { err: string }

function run(fn: () => Buffer): Outcome {
  try {
    return { ok: fn() }
  } catch (e) {
    return { err: (e as Error).message }
  }
}

/** The TS decoder's outcome; anything thrown other than a `DVD_ERR_CORRUPT` Error is rethrown. */
function tsDecode(block: Uint8Array, want: number): Outcome {
  try {
    return { ok: decompressBlock(block, want) }
  } catch (e) {
    const code = (e as { code?: unknown }).code
    if (!(e instanceof Error) || code !== 'DVD_ERR_CORRUPT' || !e.message.startsWith('DVD_ERR_CORRUPT: ')) {
      throw new Error(
        `TS decoder threw something other than DVD_ERR_CORRUPT: ${String((e as Error)?.stack ?? e)}`,
      )
    }
    return { err: e.message }
  }
}

const dir = tempDir()

test('decodes what lz4-napi compresses: empty, tiny, random, compressible, runs, 4 MiB', (t) => {
  const r = prng(1)
  const inputs: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from([7])],
    ['random 1000', r.bytes(1000)],
    ['random 4 MiB', r.bytes(4 * MiB)],
    ['zeros 4 MiB', Buffer.alloc(4 * MiB)],
    ['compressible 4 MiB', compressible(4 * MiB, 2)],
    ['compressible 70000', compressible(70_000, 3)],
    ['period 2 run', Buffer.from('ab'.repeat(5000))],
    ['period 7 run', Buffer.from('abcdefg'.repeat(3000))],
  ]
  for (let len = 0; len < 80; len++) inputs.push([`compressible ${len}`, compressible(len, 100 + len)])
  for (const [name, raw] of inputs) {
    const block = compressBlock(raw)
    const got = decompressBlock(block, raw.length)
    t.true(got.equals(raw), name)
    t.true(napiDecode(block, raw.length).equals(raw), name)
    // The output is capped at the expected length: one byte less fails, one more is the wrong length.
    if (raw.length > 0) t.true('err' in tsDecode(block, raw.length - 1), name)
    t.true('err' in tsDecode(block, raw.length + 1), name)
    // decompressBlockInto with room to spare reports the real length and leaves the rest alone.
    const roomy = Buffer.alloc(raw.length + 10, 0xee)
    t.is(decompressBlockInto(block, roomy), raw.length, name)
    t.true(roomy.subarray(0, raw.length).equals(raw), name)
    t.true(roomy.subarray(raw.length).equals(Buffer.alloc(10, 0xee)), name)
  }
})

interface RealBlock {
  /** Record the block belongs to. */
  id: number
  stored: boolean
  data: Buffer
  /** Decompressed length of the block. */
  want: number
}

/** The blocks of a DVD's data frame (records of several sizes), and the DVD itself. */
function dvdBlocks(): { file: string; records: Buffer[]; blocks: RealBlock[] } {
  const r = prng(9)
  const records = [
    Buffer.alloc(0),
    compressible(4 * MiB, 11), // exactly one full block
    compressible(4 * MiB + 3000, 12), // two blocks
    compressible(300, 13),
    r.bytes(5000), // incompressible: stored
    Buffer.alloc(9 * MiB + 1, 0x41), // three blocks of one run
    Buffer.from('x'),
  ]
  const file = join(dir, 'blocks.dvd.lz4')
  const w = new native.NativeDvdWriter(file, 'method')
  records.forEach((rec, i) => {
    w.add(rec, Buffer.from(`k${i}`), Buffer.from(`f${i}`))
  })
  w.finish()
  const bytes = readFileSync(file)
  const blocks: RealBlock[] = []
  let p = 215
  records.forEach((rec, id) => {
    for (let left = rec.length; left > 0; left -= 4 * MiB) {
      const size = bytes.readUInt32LE(p)
      const c = size & 0x7fffffff
      const stored = (size & 0x80000000) !== 0
      blocks.push({ id, stored, data: bytes.subarray(p + 4, p + 4 + c), want: Math.min(left, 4 * MiB) })
      p += 8 + c
    }
  })
  fixtureCheck(bytes.readUInt32LE(p) === 0, 'end mark after the last block')
  return { file, records, blocks }
}

function fixtureCheck(ok: boolean, what: string): void {
  if (!ok) throw new Error(`test fixture: ${what}`)
}

test('decodes the real blocks of a DVD exactly like the native reader and lz4-napi', (t) => {
  const { file, records, blocks } = dvdBlocks()
  const compressed = blocks.filter((b) => !b.stored)
  t.true(compressed.length >= 6)
  t.true(blocks.some((b) => b.stored))
  const reader = native.NativeDvdReader.open(file)
  records.forEach((rec, id) => {
    const parts = blocks
      .filter((b) => b.id === id)
      .map((b) => {
        if (b.stored) return b.data
        const got = decompressBlock(b.data, b.want)
        t.true(got.equals(napiDecode(b.data, b.want)), `record ${id}`)
        return got
      })
    const fromNative = reader.record(id)
    t.true(fromNative.equals(rec), `record ${id}`)
    t.true(Buffer.concat(parts).equals(fromNative), `record ${id}`)
  })
  reader.close()
})

test('500 seeded corruptions: DVD_ERR_CORRUPT or the same output as lz4-napi, never a hang', (t) => {
  const r = prng(20250101)
  const { blocks } = dvdBlocks()
  const sources: { data: Buffer; want: number }[] = [
    ...blocks.filter((b) => !b.stored && b.data.length < 200_000),
    ...[0, 1, 5, 17, 64, 300, 2000, 70_000].map((n) => {
      const raw = compressible(n, n)
      return { data: compressBlock(raw), want: n }
    }),
    { data: compressBlock(prng(3).bytes(3000)), want: 3000 },
  ]
  let same = 0
  let failed = 0
  const diffs: string[] = []
  const started = Date.now()
  for (let iter = 0; iter < 500; iter++) {
    const src = sources[r.int(sources.length)]!
    let block: Buffer = Buffer.from(src.data)
    let want = src.want
    const kind = r.int(7)
    const at = block.length === 0 ? 0 : r.int(block.length)
    let what: string
    if (kind === 0 && block.length > 0) {
      const bit = r.int(8)
      block[at] = block[at]! ^ (1 << bit)
      what = `flip bit ${bit} at ${at}`
    } else if (kind === 1 && block.length > 0) {
      block[at] = [0, 0xff, 0xf0, 0x0f, r.int(256)][r.int(5)]!
      what = `set byte ${at} = ${block[at]}`
    } else if (kind === 2) {
      block = block.subarray(0, at)
      what = `truncate to ${at}`
    } else if (kind === 3) {
      block = Buffer.concat([block, r.bytes(1 + r.int(20))])
      what = 'append bytes'
    } else if (kind === 4) {
      want = Math.max(0, want + r.int(41) - 20)
      what = `expect ${want} bytes`
    } else if (kind === 5) {
      block = r.bytes(r.int(300))
      want = r.int(5000)
      what = `${block.length} random bytes, expect ${want}`
    } else {
      for (let k = 0; k < 1 + r.int(8); k++) if (block.length > 0) block[r.int(block.length)] = r.int(256)
      what = 'several random bytes'
    }
    const mine = tsDecode(block, want)
    const theirs = run(() => napiDecode(block, want))
    if ('ok' in mine !== 'ok' in theirs) {
      diffs.push(
        `#${iter} ${what}: ts ${'ok' in mine ? 'ok' : mine.err} vs lz4-napi ${'ok' in theirs ? 'ok' : theirs.err}`,
      )
    } else if ('ok' in mine && 'ok' in theirs) {
      if (!mine.ok.equals(theirs.ok)) diffs.push(`#${iter} ${what}: different output`)
      same++
    } else failed++
  }
  t.log(`${failed} refused by both, ${same} decoded identically by both, in ${Date.now() - started} ms`)
  t.deepEqual(diffs.slice(0, 20), [])
  t.true(failed > 150)
})

test('hostile blocks: bounds, offsets, length extensions, huge claims', (t) => {
  const cases: [string, number[], number][] = [
    ['empty input', [], 0],
    ['empty literal sequence', [0x00], 0],
    ['literals only', [0x30, 0x61, 0x62, 0x63], 3],
    ['literal runs past the input', [0x50, 0x61, 0x62], 5],
    ['literal length extension missing', [0xf0], 20],
    ['literal length extension of 255s running out', [0xf0, 0xff, 0xff], 600],
    ['match offset zero', [0x14, 0x61, 0x00, 0x00, 0x00], 9],
    ['match before the output start', [0x14, 0x61, 0x02, 0x00, 0x00], 9],
    ['match offset missing one byte', [0x14, 0x61, 0x01], 9],
    ['match then end of input (no last literals)', [0x10, 0x61, 0x01, 0x00], 5],
    ['valid run of one byte', [0x10, 0x61, 0x01, 0x00, 0x00], 5],
    ['run longer than the output', [0x1f, 0x61, 0x01, 0x00, 0xff, 0xff, 0x10, 0x00], 100],
    ['match length extension missing', [0x1f, 0x61, 0x01, 0x00], 100],
  ]
  for (const [name, bytes, want] of cases) {
    const block = Buffer.from(bytes)
    const mine = tsDecode(block, want)
    const theirs = run(() => napiDecode(block, want))
    t.is('ok' in mine, 'ok' in theirs, name)
    if ('ok' in mine && 'ok' in theirs) t.true(mine.ok.equals(theirs.ok), name)
  }
  t.true(decompressBlock(Buffer.from([0x10, 0x61, 0x01, 0x00, 0x00]), 5).equals(Buffer.from('aaaaa')))
  // A 4 MiB run claimed by a few bytes: decodes within the cap, and a claim past it fails at once.
  const run4 = Buffer.from([0x1f, 0x61, 0x01, 0x00, ...Array(16448).fill(0xff), 0x00, 0x00])
  const want = 1 + 19 + 16448 * 255
  t.is(decompressBlock(run4, want).length, want)
  t.true('err' in tsDecode(run4, want - 1))
  // Non-integer or negative expected lengths are a caller's bug, not a corrupt block.
  t.throws(() => decompressBlock(Buffer.from([0]), -1), { instanceOf: RangeError })
})
