/**
 * A text DVD (JSON) written while it is recorded (see streamed_session.ts): its opening is
 * written when the first recording is made, each recording's text as it completes, its closing at
 * close, into a temporary file renamed over the DVD file. Memory keeps where each recording's text
 * is, and its key when the session's recordings are looked up; a recording is read back by parsing
 * its text again.
 */
import { AtomicFile } from '../atomic_write.js'
import type { RecordingStore } from '../dvd.js'
import { keyOf, type MatcherName } from '../matchers.js'
import type { Recording } from '../model.js'
import type { SessionFile, SessionFormat } from './streamed_session.js'
import type { TextLayout } from './text_layout.js'

/** Rebuilds recording `index` from the JSON value of its text. */
export type ParseItem = (value: unknown, index: number) => Recording

class TextSessionFile implements SessionFile {
  readonly #out: AtomicFile
  readonly #layout: TextLayout
  readonly #parse: ParseItem
  readonly #matchOn: readonly MatcherName[]
  /** Where each recording's text starts in the file, and its length in bytes. */
  #starts = new Float64Array(1024)
  #lengths = new Uint32Array(1024)
  #count = 0
  /** Ids of the recordings by key, when they are looked up. */
  readonly #index: Map<string, number[]> | undefined

  constructor(
    file: string,
    layout: TextLayout,
    parse: ParseItem,
    matchOn: readonly MatcherName[],
    lookups: boolean,
  ) {
    this.#out = new AtomicFile(file)
    this.#layout = layout
    this.#parse = parse
    this.#matchOn = matchOn
    this.#index = lookups ? new Map() : undefined
    this.#out.append(layout.head)
  }

  add(recording: Recording): void {
    const id = this.#count
    if (id === this.#starts.length) {
      const starts = new Float64Array(id * 2)
      starts.set(this.#starts)
      this.#starts = starts
      const lengths = new Uint32Array(id * 2)
      lengths.set(this.#lengths)
      this.#lengths = lengths
    }
    this.#starts[id] = this.#out.size
    this.#lengths[id] = this.#out.append(this.#layout.item(recording, id))
    this.#count++
    if (this.#index) {
      const key = keyOf(recording.request, this.#matchOn)
      const ids = this.#index.get(key)
      if (ids) ids.push(id)
      else this.#index.set(key, [id])
    }
  }

  copy(base: RecordingStore): void {
    for (let id = 0; id < base.count; id++) this.add(base.get(id))
  }

  lookup(key: string): Iterable<number> {
    return this.#index?.get(key) ?? []
  }

  read(id: number): Recording {
    const text = this.#out.read(this.#starts[id]!, this.#lengths[id]!).toString('utf8')
    // The item's text begins with its separator from the previous one.
    return this.#parse(JSON.parse(text.replace(/^[\s,]+/, '')), id)
  }

  finish(): void {
    this.#out.append(this.#layout.tail(this.#count))
    this.#out.commit()
  }

  abort(): void {
    this.#out.abort()
  }
}

/** How a session records into the text DVD `file` laid out by `layout`. */
export function textSessionFormat(
  file: string,
  layout: TextLayout,
  parse: ParseItem,
  matchOn: readonly MatcherName[],
): SessionFormat {
  return (lookups) => new TextSessionFile(file, layout, parse, matchOn, lookups)
}
