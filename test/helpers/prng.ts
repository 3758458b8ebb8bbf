/** mulberry32: a small seeded generator, good enough to pick mutations and data reproducibly. */
export function prng(seed: number) {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  const bytes = (n: number): Buffer => {
    const b = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) b[i] = int(256)
    return b
  }
  return { next, int, bytes }
}
