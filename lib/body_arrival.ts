/**
 * How a response body arrived off the network: its bytes, and the length and arrival time of each
 * read, so that replay can hand the body out in the same chunks and at the same pace. Chunks handed
 * over in one turn of the event loop came in one read and count as one.
 */
import type { BodyChunks } from './model.js'

export class BodyArrival {
  readonly #parts: Buffer[] = []
  readonly #lengths: number[] = []
  readonly #arrivals: number[] = []
  /** When the response's headers came: chunk offsets count from there. */
  #start = performance.now()
  #sameRead = false
  readonly #readDone = (): void => {
    this.#sameRead = false
  }

  /** The headers came now. */
  started(): void {
    this.#start = performance.now()
  }

  /** A piece of the body came now (copied: the caller's buffer may be reused). */
  add(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.#parts.push(Buffer.from(chunk))
    if (this.#sameRead) {
      this.#lengths[this.#lengths.length - 1]! += chunk.length
    } else {
      this.#lengths.push(chunk.length)
      this.#arrivals.push(performance.now())
      this.#sameRead = true
      queueMicrotask(this.#readDone)
    }
  }

  /** The body so far (`null` when none came) and, when it came in several reads, its chunks. */
  body(): { body: Buffer | null; chunks?: BodyChunks } {
    if (this.#parts.length === 0) return { body: null }
    const body = Buffer.concat(this.#parts)
    if (this.#lengths.length < 2) return { body }
    // Whole milliseconds, never before the previous chunk (rounding must not reorder them).
    let last = 0
    const offsetsMs = this.#arrivals.map((at) => {
      last = Math.max(last, Math.round(at - this.#start))
      return last
    })
    return { body, chunks: { lengths: [...this.#lengths], offsetsMs } }
  }
}
