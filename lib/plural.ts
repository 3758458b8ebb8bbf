/** "1 recording", "2 recordings": counts in messages read as sentences. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`
}
