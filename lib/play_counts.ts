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

  /** Number of recordings that answered at least once. */
  get played(): number {
    return this.#played
  }

  /** Number of plays in all. */
  get total(): number {
    return this.#total
  }
}
