/**
 * LZ4 *block* decompression (raw block format, no frame) in plain TypeScript, for the binary DVD
 * fallback reader (`lib/formats/binary_fallback.ts`) where `lz4-napi`, itself a native addon, does
 * not load either.
 *
 * It accepts exactly what `lz4_flex::block::decompress_into` (safe-decode, used by the native
 * reader) accepts, with the same output: a block is a run of sequences `token, literal length
 * extension, literals, u16 LE offset, match length extension`; the last sequence stops after its
 * literals, which must end the input exactly. The end-of-block rules of the LZ4 spec (last 5 bytes
 * literals, last match 12 bytes before the end) are not enforced, as in lz4_flex.
 *
 * Every read and write is bounds-checked: the output never grows past its capacity (the expected
 * decompressed length), a match never reaches before the output start, the input is never read past
 * its end. Any malformed input throws an `Error` whose `code` is `DVD_ERR_CORRUPT` (message
 * `DVD_ERR_CORRUPT: LZ4 block does not decode: …`), never anything else; the work is linear in the
 * input plus the output, so no input can make it hang.
 */

/** The error shape of the DVD readers (a plain `Error`, `code` set, message prefixed with it). */
function malformed(reason: string): Error {
  const err = new Error(`DVD_ERR_CORRUPT: LZ4 block does not decode: ${reason}`) as Error & { code: string }
  err.code = 'DVD_ERR_CORRUPT'
  return err
}

/** Shorter literal runs and non-overlapping matches are copied byte by byte (cheaper than a call). */
const SHORT_COPY = 16

/**
 * Decompresses the LZ4 block `input` into `output` (its length is the capacity), returning the
 * number of bytes written; the rest of `output` is left as it was. Throws `DVD_ERR_CORRUPT` when the
 * block is malformed or would decode to more than `output.length` bytes.
 */
export function decompressBlockInto(input: Uint8Array, output: Uint8Array): number {
  const inLen = input.length
  const cap = output.length
  let ip = 0
  let op = 0
  for (;;) {
    if (ip >= inLen) throw malformed('expected another byte, found none')
    const token = input[ip++]!

    // Literals.
    let lit = token >>> 4
    if (lit === 15) {
      let extra: number
      do {
        if (ip >= inLen) throw malformed('expected another byte, found none')
        extra = input[ip++]!
        lit += extra
      } while (extra === 255)
    }
    if (lit !== 0) {
      if (lit > inLen - ip) throw malformed('literal is out of bounds of the input')
      if (lit > cap - op) throw malformed(`output too small: expected ${op + lit} bytes, capacity ${cap}`)
      if (lit <= SHORT_COPY) {
        for (let k = 0; k < lit; k++) output[op + k] = input[ip + k]!
      } else {
        output.set(input.subarray(ip, ip + lit), op)
      }
      ip += lit
      op += lit
    }
    // The last sequence has no match part: the block ends right after its literals.
    if (ip >= inLen) break

    // Match.
    if (inLen - ip < 2) throw malformed('expected another byte, found none')
    const offset = input[ip]! | (input[ip + 1]! << 8)
    ip += 2
    if (offset === 0) throw malformed('match offset is zero')
    let len = (token & 15) + 4
    if (len === 19) {
      let extra: number
      do {
        if (ip >= inLen) throw malformed('expected another byte, found none')
        extra = input[ip++]!
        len += extra
      } while (extra === 255)
    }
    if (len > cap - op) throw malformed(`output too small: expected ${op + len} bytes, capacity ${cap}`)
    if (offset > op) throw malformed('match offset is out of bounds of the output')
    const from = op - offset
    if (offset === 1) {
      output.fill(output[from]!, op, op + len)
    } else if (offset >= len && len > SHORT_COPY) {
      output.copyWithin(op, from, from + len)
    } else {
      // Overlapping (offset < len): each byte may be one written by this same copy.
      for (let k = 0; k < len; k++) output[op + k] = output[from + k]!
    }
    op += len
  }
  return op
}

/**
 * Decompresses the LZ4 block `input`, which must decode to exactly `expectedLen` bytes (the output
 * is capped there: a block that would produce more fails without producing it). Throws
 * `DVD_ERR_CORRUPT` on malformed input or any other decoded length.
 */
export function decompressBlock(input: Uint8Array, expectedLen: number): Buffer {
  if (!Number.isSafeInteger(expectedLen) || expectedLen < 0) {
    throw new RangeError(`expected length must be a non-negative integer, got ${expectedLen}`)
  }
  const out = Buffer.alloc(expectedLen)
  const n = decompressBlockInto(input, out)
  if (n !== expectedLen) {
    const err = new Error(
      `DVD_ERR_CORRUPT: LZ4 block decodes to the wrong length (${n} bytes, expected ${expectedLen})`,
    ) as Error & { code: string }
    err.code = 'DVD_ERR_CORRUPT'
    throw err
  }
  return out
}
