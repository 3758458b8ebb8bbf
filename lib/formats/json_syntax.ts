/**
 * Where a JSON text stops being valid. `JSON.parse` names a position for some syntax errors only
 * (`Unexpected token 'x', "…" is not valid JSON` has none), so a DVD's syntax error is located
 * by this scanner instead: iterative, so that deep nesting cannot overflow the stack.
 */

const SPACE = 0x20
const TAB = 0x09
const LF = 0x0a
const CR = 0x0d
const QUOTE = 0x22
const BACKSLASH = 0x5c
const isDigit = (c: number) => c >= 0x30 && c <= 0x39
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
const ESCAPES = new Set([...'"\\/bfnrt'].map((c) => c.charCodeAt(0)))

/** The index of the first non-space character from `at` on. */
function skipSpace(text: string, from: number): number {
  let at = from
  for (
    let c = text.charCodeAt(at);
    c === SPACE || c === LF || c === CR || c === TAB;
    c = text.charCodeAt(++at)
  );
  return at
}

/** The index just past the string starting at `i` (a quote), or minus one minus the bad index. */
function scanString(text: string, i: number): number {
  for (let at = i + 1; at < text.length; at++) {
    const c = text.charCodeAt(at)
    if (c === QUOTE) return at + 1
    if (c < 0x20) return -1 - at
    if (c !== BACKSLASH) continue
    const e = text.charCodeAt(++at)
    if (ESCAPES.has(e)) continue
    if (e !== 0x75) return -1 - at
    for (let k = 1; k <= 4; k++) if (!isHex(text.charCodeAt(at + k))) return -1 - (at + k)
    at += 4
  }
  return -1 - text.length
}

/** The index just past the number starting at `i`, or minus one minus the bad index. */
function scanNumber(text: string, i: number): number {
  let at = i
  if (text.charCodeAt(at) === 0x2d) at++
  if (text.charCodeAt(at) === 0x30) at++
  else if (isDigit(text.charCodeAt(at))) while (isDigit(text.charCodeAt(at))) at++
  else return -1 - at
  if (text.charCodeAt(at) === 0x2e) {
    if (!isDigit(text.charCodeAt(++at))) return -1 - at
    while (isDigit(text.charCodeAt(at))) at++
  }
  const e = text.charCodeAt(at)
  if (e === 0x65 || e === 0x45) {
    const sign = text.charCodeAt(++at)
    if (sign === 0x2b || sign === 0x2d) at++
    if (!isDigit(text.charCodeAt(at))) return -1 - at
    while (isDigit(text.charCodeAt(at))) at++
  }
  return at
}

/** The index just past the value starting at `i` when it is a scalar; minus one minus the bad index. */
function scanScalar(text: string, i: number): number {
  const c = text.charCodeAt(i)
  if (c === QUOTE) return scanString(text, i)
  if (c === 0x2d || isDigit(c)) return scanNumber(text, i)
  for (const word of ['true', 'false', 'null']) {
    if (text.startsWith(word, i)) return i + word.length
  }
  return -1 - i
}

/**
 * The index (in UTF-16 units) of the first character at which `text` is not valid JSON (its
 * length when it ends too early), or -1 when it is valid.
 */
export function invalidJsonAt(text: string): number {
  const n = text.length
  /** Open containers: true for an object, false for an array. */
  const open: boolean[] = []
  let i = 0
  for (;;) {
    // A value starts here.
    i = skipSpace(text, i)
    const c = text.charCodeAt(i)
    if (c === 0x5b || c === 0x7b) {
      i++
      i = skipSpace(text, i)
      const close = c === 0x5b ? 0x5d : 0x7d
      if (text.charCodeAt(i) === close) i++
      else {
        open.push(c === 0x7b)
        if (c === 0x7b) i = member(text, i)
        if (i < 0) return -1 - i
        continue
      }
    } else {
      const end = scanScalar(text, i)
      if (end < 0) return Math.min(-1 - end, n)
      i = end
    }
    // After a value: a comma, the end of containers, or the end of the text.
    for (;;) {
      i = skipSpace(text, i)
      if (open.length === 0) return i < n ? i : -1
      if (i >= n) return n
      const d = text.charCodeAt(i)
      const inObject = open[open.length - 1]!
      if (d === 0x2c) {
        i++
        if (inObject) i = member(text, i)
        if (i < 0) return -1 - i
        break
      }
      if (d !== (inObject ? 0x7d : 0x5d)) return i
      open.pop()
      i++
    }
  }
}

/** The index after the `"name" :` of an object member at `i`, or minus one minus the bad index. */
function member(text: string, i: number): number {
  let at = skipSpace(text, i)
  if (text.charCodeAt(at) !== QUOTE) return -1 - Math.min(at, text.length)
  const end = scanString(text, at)
  if (end < 0) return end
  at = skipSpace(text, end)
  if (text.charCodeAt(at) !== 0x3a) return -1 - Math.min(at, text.length)
  return at + 1
}

/** `line L, column C` (both from 1) of index `at` of `text`. */
export function lineAndColumn(text: string, at: number): string {
  let line = 1
  let lineStart = 0
  for (let nl = text.indexOf('\n'); nl !== -1 && nl < at; nl = text.indexOf('\n', nl + 1)) {
    line++
    lineStart = nl + 1
  }
  return `line ${line}, column ${at - lineStart + 1}`
}
