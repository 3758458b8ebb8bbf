/**
 * How many times each recording answered, by id. A typed array rather than a Map: replaying a DVD
 * of a million recordings sets a million counts, and a Map of that size costs tens of MB and a
 * rehash on every growth, which makes the per-request cost climb with the DVD's size.
 */
export class PlayCounts {
  #counts = new Uint32Array(0)
  #played = 0
  #total = 0

  /** Plays of recording `id` (0 when it never answered). */
  get(id: number): number {
    return id < this.#counts.length ? this.#counts[id]! : 0
  }

  /** Counts one more play of recording `id`. */
  add(id: number): void {
    if (id >= this.#counts.length) {
      // Grown on demand (never sized to the DVD at open, which stays O(1)), by doubling.
      const grown = new Uint32Array(Math.max(1024, id + 1, this.#counts.length * 2))
      grown.set(this.#counts)
      this.#counts = grown
    }
    const before = this.#counts[id]!
    if (before === 0) this.#played++
    if (before < 0xffff_ffff) this.#counts[id] = before + 1
    this.#total++
  }

  /**
   * The counts by id, for a store that checks them where the candidates are (the native reader):
   * ids past its end never answered. Replaced, not grown in place, when an id beyond it is added.
   */
  get counts(): Uint32Array {
    return this.#counts
  }

  /** Number of recordings that answered at least once. */
  get played(): number {
    return this.#played
  }

  /** Number of plays in all. */
  get total(): number {
    return this.#total
  }
}

/** The ids of one key, in recording order, and where the last choice from position 0 stopped. */
export interface Bucket {
  readonly ids: number[]
  /** Every id before this position had been played at the last choice from position 0. */
  firstUnplayed: number
}

/**
 * The position of the candidate a store answers with (see `RecordingStore.find` in dvd.ts): from
 * position `from` on, the first whose id (plus `firstId`) `plays` counts as never played, else the
 * last; with `plays` `null`, `from` itself. -1 when `from` is past the last. Play counts only grow,
 * so a choice from position 0 starts where the last one stopped: replaying the K recordings of a
 * key in order costs K steps in all, not K² / 2.
 */
export function choose(bucket: Bucket, from: number, plays: PlayCounts | null, firstId = 0): number {
  const { ids } = bucket
  if (from >= ids.length) return -1
  if (!plays) return from
  let at = from === 0 ? bucket.firstUnplayed : from
  while (at < ids.length && plays.get(firstId + ids[at]!) > 0) at++
  if (from === 0) bucket.firstUnplayed = at
  return Math.min(at, ids.length - 1)
}
