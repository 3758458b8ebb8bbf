/**
 * The result array of a binary reader's `find` and `read` (native and TypeScript alike): one
 * `Uint32Array`, reused by every lookup, whose slots are those `native/src/find.rs` defines and the
 * addon exports as `FIND_*` (a test holds these equal to them). The record's layout, when the
 * reader made one, starts at {@link SLOT_LAYOUT}.
 */

export const SLOT_STATUS = 0
export const SLOT_COUNT = 1
export const SLOT_POSITION = 2
export const SLOT_ID = 3
export const SLOT_LENGTH = 4
export const SLOT_SAME_REQUEST = 5
export const SLOT_LAYOUT = 8
/** Header pairs a layout has room for (request and response together); more means no layout. */
export const MAX_PAIRS = 64
/** Slots before a layout's header pairs (`native/src/record_layout.rs` `FIXED_SLOTS`). */
export const LAYOUT_FIXED_SLOTS = 14
export const RESULT_LEN = SLOT_LAYOUT + LAYOUT_FIXED_SLOTS + 4 * MAX_PAIRS

/** Status: a candidate was chosen and its record read. */
export const FOUND = 0
/** Status: no candidate at or after `from`. */
export const NONE = 1
/** Status: the request given by its parts is not of the simple form; look it up by its key. */
export const NOT_SIMPLE = 2
/** Status: the chosen record does not fit after `offset`; read it into a larger target. */
export const NO_ROOM = 3
/** A layout's flags slot when the record has none. */
export const NO_LAYOUT = 0xffff_ffff

/** A new result array. */
export function newResult(): Uint32Array {
  return new Uint32Array(RESULT_LEN)
}
