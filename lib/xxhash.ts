/**
 * XXH32 and XXH64 in plain TypeScript, for the binary DVD fallback reader
 * (`lib/formats/binary_fallback.ts`) when the native addon cannot load.
 *
 * Both are bit-exact with the reference implementation (and with the
 * `xxhash-rust` crate the native addon uses). XXH64 works on pairs of u32
 * halves instead of BigInt: a lookup hashes one key per request and opening
 * a file hashes its whole index, and BigInt arithmetic is an order of
 * magnitude slower and allocates on every step.
 */

const P32_1 = 0x9e3779b1
const P32_2 = 0x85ebca77
const P32_3 = 0xc2b2ae3d
const P32_4 = 0x27d4eb2f
const P32_5 = 0x165667b1

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r))
}

function u32le(data: Uint8Array, i: number): number {
  return (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0
}

function round32(acc: number, lane: number): number {
  return Math.imul(rotl32((acc + Math.imul(lane, P32_2)) | 0, 13), P32_1)
}

/**
 * Finishes an XXH32 state: `h` already holds the merged lanes (or seed +
 * PRIME5) plus the total length; `data[at..end)` is the tail (< 16 bytes).
 */
function finish32(h0: number, data: Uint8Array, at: number, end: number): number {
  let h = h0
  let i = at
  for (; i + 4 <= end; i += 4) {
    h = Math.imul(rotl32((h + Math.imul(u32le(data, i), P32_3)) | 0, 17), P32_4)
  }
  for (; i < end; i++) {
    h = Math.imul(rotl32((h + Math.imul(data[i]!, P32_5)) | 0, 11), P32_1)
  }
  h ^= h >>> 15
  h = Math.imul(h, P32_2)
  h ^= h >>> 13
  h = Math.imul(h, P32_3)
  h ^= h >>> 16
  return h >>> 0
}

/** XXH32 of `data` with `seed` (default 0), as an unsigned 32-bit number. */
export function xxh32(data: Uint8Array, seed = 0): number {
  const len = data.length
  let i = 0
  let h: number
  if (len >= 16) {
    let v1 = (seed + P32_1 + P32_2) | 0
    let v2 = (seed + P32_2) | 0
    let v3 = seed | 0
    let v4 = (seed - P32_1) | 0
    const limit = len - 16
    for (; i <= limit; i += 16) {
      v1 = round32(v1, u32le(data, i))
      v2 = round32(v2, u32le(data, i + 4))
      v3 = round32(v3, u32le(data, i + 8))
      v4 = round32(v4, u32le(data, i + 12))
    }
    h = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) | 0
  } else {
    h = (seed + P32_5) | 0
  }
  h = (h + len) | 0
  return finish32(h, data, i, len)
}

/**
 * Streaming XXH32 (same result as `xxh32` over the concatenated input), for
 * checksums over more data than should be held at once (the LZ4 content
 * checksum covers every record of a file).
 */
export class Xxh32 {
  private readonly seed: number
  private v1: number
  private v2: number
  private v3: number
  private v4: number
  private total = 0
  private readonly pending = new Uint8Array(16)
  private pendingLen = 0

  constructor(seed = 0) {
    this.seed = seed | 0
    this.v1 = (this.seed + P32_1 + P32_2) | 0
    this.v2 = (this.seed + P32_2) | 0
    this.v3 = this.seed
    this.v4 = (this.seed - P32_1) | 0
  }

  /** Feeds more bytes. */
  update(data: Uint8Array): this {
    const len = data.length
    this.total += len
    let i = 0
    if (this.pendingLen > 0) {
      const take = Math.min(16 - this.pendingLen, len)
      this.pending.set(data.subarray(0, take), this.pendingLen)
      this.pendingLen += take
      i = take
      if (this.pendingLen < 16) return this
      this.stripe(this.pending, 0)
      this.pendingLen = 0
    }
    for (; i + 16 <= len; i += 16) this.stripe(data, i)
    if (i < len) {
      this.pending.set(data.subarray(i), 0)
      this.pendingLen = len - i
    }
    return this
  }

  private stripe(data: Uint8Array, i: number): void {
    this.v1 = round32(this.v1, u32le(data, i))
    this.v2 = round32(this.v2, u32le(data, i + 4))
    this.v3 = round32(this.v3, u32le(data, i + 8))
    this.v4 = round32(this.v4, u32le(data, i + 12))
  }

  /** The hash of everything fed so far (the state stays usable). */
  digest(): number {
    let h: number
    if (this.total >= 16) {
      h = (rotl32(this.v1, 1) + rotl32(this.v2, 7) + rotl32(this.v3, 12) + rotl32(this.v4, 18)) | 0
    } else {
      h = (this.seed + P32_5) | 0
    }
    // The reference adds the total length modulo 2^32.
    h = (h + (this.total % 0x1_0000_0000)) | 0
    return finish32(h, this.pending, 0, this.pendingLen)
  }
}

// XXH64 on (hi, lo) u32 pairs. Helpers return the low half and leave the
// high half in `rh`, which keeps the hot loop free of allocations.

const P64_1H = 0x9e3779b1
const P64_1L = 0x85ebca87
const P64_2H = 0xc2b2ae3d
const P64_2L = 0x27d4eb4f
const P64_3H = 0x165667b1
const P64_3L = 0x9e3779f9
const P64_4H = 0x85ebca77
const P64_4L = 0xc2b2ae63
const P64_5H = 0x27d4eb2f
const P64_5L = 0x165667c5

let rh = 0

/** Low 64 bits of (ah:al) * (bh:bl), on 16-bit limbs so every partial product is exact. */
function mul64(ah: number, al: number, bh: number, bl: number): number {
  const a48 = ah >>> 16
  const a32 = ah & 0xffff
  const a16 = al >>> 16
  const a00 = al & 0xffff
  const b48 = bh >>> 16
  const b32 = bh & 0xffff
  const b16 = bl >>> 16
  const b00 = bl & 0xffff
  let c00 = a00 * b00
  let c16 = c00 >>> 16
  c00 &= 0xffff
  c16 += a16 * b00
  let c32 = c16 >>> 16
  c16 &= 0xffff
  c16 += a00 * b16
  c32 += c16 >>> 16
  c16 &= 0xffff
  c32 += a32 * b00
  let c48 = c32 >>> 16
  c32 &= 0xffff
  c32 += a16 * b16
  c48 += c32 >>> 16
  c32 &= 0xffff
  c32 += a00 * b32
  c48 += c32 >>> 16
  c32 &= 0xffff
  c48 += a48 * b00 + a32 * b16 + a16 * b32 + a00 * b48
  c48 &= 0xffff
  rh = ((c48 << 16) | c32) >>> 0
  return ((c16 << 16) | c00) >>> 0
}

function add64(ah: number, al: number, bh: number, bl: number): number {
  const lo = al + bl
  rh = (ah + bh + (lo > 0xffffffff ? 1 : 0)) >>> 0
  return lo >>> 0
}

/** Rotate left by `r` in 1..31 (XXH64 uses no other amounts). */
function rotl64(h: number, l: number, r: number): number {
  rh = ((h << r) | (l >>> (32 - r))) >>> 0
  return ((l << r) | (h >>> (32 - r))) >>> 0
}

/** `rotl(acc + lane * P2, 31) * P1` */
function round64(acch: number, accl: number, laneh: number, lanel: number): number {
  let l = mul64(laneh, lanel, P64_2H, P64_2L)
  l = add64(acch, accl, rh, l)
  l = rotl64(rh, l, 31)
  return mul64(rh, l, P64_1H, P64_1L)
}

/** `(acc ^ round(0, v)) * P1 + P4` */
function merge64(acch: number, accl: number, vh: number, vl: number): number {
  let l = round64(0, 0, vh, vl)
  const xh = (acch ^ rh) >>> 0
  const xl = (accl ^ l) >>> 0
  l = mul64(xh, xl, P64_1H, P64_1L)
  return add64(rh, l, P64_4H, P64_4L)
}

/**
 * XXH64 (seed 0) of `data`, written to `out` as `[low u32, high u32]`
 * (the little-endian word order of the hash as stored in a DVD hash slot).
 */
export function xxh64Into(data: Uint8Array, out: Uint32Array): void {
  const len = data.length
  let i = 0
  let hh: number
  let hl: number
  if (len >= 32) {
    // seed 0: v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1
    let v1l = add64(P64_1H, P64_1L, P64_2H, P64_2L)
    let v1h = rh
    let v2h = P64_2H
    let v2l = P64_2L
    let v3h = 0
    let v3l = 0
    // -P1 = ~P1 + 1
    let v4l = add64(~P64_1H >>> 0, ~P64_1L >>> 0, 0, 1)
    let v4h = rh
    const limit = len - 32
    for (; i <= limit; i += 32) {
      v1l = round64(v1h, v1l, u32le(data, i + 4), u32le(data, i))
      v1h = rh
      v2l = round64(v2h, v2l, u32le(data, i + 12), u32le(data, i + 8))
      v2h = rh
      v3l = round64(v3h, v3l, u32le(data, i + 20), u32le(data, i + 16))
      v3h = rh
      v4l = round64(v4h, v4l, u32le(data, i + 28), u32le(data, i + 24))
      v4h = rh
    }
    let l = rotl64(v1h, v1l, 1)
    let h = rh
    let l2 = rotl64(v2h, v2l, 7)
    l = add64(h, l, rh, l2)
    h = rh
    l2 = rotl64(v3h, v3l, 12)
    l = add64(h, l, rh, l2)
    h = rh
    l2 = rotl64(v4h, v4l, 18)
    l = add64(h, l, rh, l2)
    h = rh
    l = merge64(h, l, v1h, v1l)
    h = rh
    l = merge64(h, l, v2h, v2l)
    h = rh
    l = merge64(h, l, v3h, v3l)
    h = rh
    l = merge64(h, l, v4h, v4l)
    hh = rh
    hl = l
  } else {
    hh = P64_5H
    hl = P64_5L
  }
  // h += len (len < 2^53: split it into halves)
  hl = add64(hh, hl, Math.floor(len / 0x1_0000_0000) >>> 0, len >>> 0)
  hh = rh
  for (; i + 8 <= len; i += 8) {
    const kl = round64(0, 0, u32le(data, i + 4), u32le(data, i))
    const xh = (hh ^ rh) >>> 0
    const xl = (hl ^ kl) >>> 0
    let l = rotl64(xh, xl, 27)
    l = mul64(rh, l, P64_1H, P64_1L)
    hl = add64(rh, l, P64_4H, P64_4L)
    hh = rh
  }
  if (i + 4 <= len) {
    const kl = mul64(0, u32le(data, i), P64_1H, P64_1L)
    const xh = (hh ^ rh) >>> 0
    const xl = (hl ^ kl) >>> 0
    let l = rotl64(xh, xl, 23)
    l = mul64(rh, l, P64_2H, P64_2L)
    hl = add64(rh, l, P64_3H, P64_3L)
    hh = rh
    i += 4
  }
  for (; i < len; i++) {
    const kl = mul64(0, data[i]!, P64_5H, P64_5L)
    const xh = (hh ^ rh) >>> 0
    const xl = (hl ^ kl) >>> 0
    const l = rotl64(xh, xl, 11)
    hl = mul64(rh, l, P64_1H, P64_1L)
    hh = rh
  }
  // avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32
  hl = (hl ^ (hh >>> 1)) >>> 0
  hl = mul64(hh, hl, P64_2H, P64_2L)
  hh = rh
  hl = (hl ^ ((hl >>> 29) | (hh << 3))) >>> 0
  hh = (hh ^ (hh >>> 29)) >>> 0
  hl = mul64(hh, hl, P64_3H, P64_3L)
  hh = rh
  hl = (hl ^ hh) >>> 0
  out[0] = hl
  out[1] = hh
}

const scratch = new Uint32Array(2)

/**
 * XXH64 (seed 0) of `data`, as an unsigned 64-bit BigInt (the same value as
 * the native `xxh64Key`).
 */
export function xxh64(data: Uint8Array): bigint {
  xxh64Into(data, scratch)
  return (BigInt(scratch[1]!) << 32n) | BigInt(scratch[0]!)
}
