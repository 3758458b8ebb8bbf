/**
 * The packed result of a binary reader's `lookupFirstInto` (native and TypeScript alike): one
 * number carries how many candidate ids were written and the length of the first one's record, so
 * the replay hot path crosses into the addon once per lookup.
 */

/** The `length` of a result whose record did not fit in its target (nothing was written there). */
export const NO_ROOM = 0xffff_ffff

/** Results stay exact in a JS number below this many ids; larger buckets answer "use lookupInto". */
export const FIRST_INTO_MAX_IDS = 1 << 20

const HIGH = 2 ** 32

/** Packs a count of ids and the first record's length (or {@link NO_ROOM}). */
export function packLookup(count: number, length: number): number {
  return count * HIGH + length
}

/** The count of ids of a non-negative result. */
export function lookupCount(packed: number): number {
  return Math.floor(packed / HIGH)
}

/** The first record's length of a non-negative result with a count above 0, or {@link NO_ROOM}. */
export function lookupLength(packed: number): number {
  return packed % HIGH
}

/**
 * `lookupRequestInto` (the replay fast path) answers the found record's id in the low part and, in
 * the high part, 1 when it is the only record of its key hash. At most this value, the record did
 * not fit and its length is `EXACT_NO_ROOM - result`; -1 means "look it up the general way".
 */
export const EXACT_NO_ROOM = -2

/** The id of a non-negative `lookupRequestInto` result. */
export function exactId(packed: number): number {
  return packed % HIGH
}

/** Whether the record of a non-negative `lookupRequestInto` result is the only one of its key hash. */
export function exactOnly(packed: number): boolean {
  return packed >= HIGH
}
