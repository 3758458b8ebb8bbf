/**
 * Polly.js recordings (`recording.har`): HAR whose entries carry `_id` (a hash of the request)
 * and `_order` (the how-manieth identical request it answered). Polly keeps bodies decoded with
 * the original `content-encoding` and `content-length`, which the HAR reader already handles.
 */
import type { Recording } from '../../model.js'
import { HarEntryReader, SkippedEntries } from '../har.js'

/** Entries in Polly's replay order: among entries of one `_id`, by `_order`; others stay put. */
function inPollyOrder(entries: unknown[]): unknown[] {
  const order = (entry: unknown) => (entry as { _order?: unknown })._order
  const id = (entry: unknown) => (entry as { _id?: unknown })._id
  const byId = new Map<unknown, unknown[]>()
  for (const entry of entries) {
    if (typeof id(entry) !== 'string' || typeof order(entry) !== 'number') continue
    const same = byId.get(id(entry)) ?? []
    same.push(entry)
    byId.set(id(entry), same)
  }
  for (const same of byId.values()) same.sort((a, b) => (order(a) as number) - (order(b) as number))
  const taken = new Map<unknown, number>()
  return entries.map((entry) => {
    const same = byId.get(id(entry))
    if (!same) return entry
    const k = taken.get(id(entry)) ?? 0
    taken.set(id(entry), k + 1)
    return same[k]
  })
}

/** The recordings of a Polly.js `recording.har`; entries a DVD cannot hold are counted in a warning. */
export async function importPolly(file: string, onWarning?: (message: string) => void): Promise<Recording[]> {
  const reader = new HarEntryReader(file)
  const log = reader.object(reader.object(await reader.json(), '').log, 'log')
  const entries = reader.list(log.entries, 'log.entries')
  const positions = new Map(entries.map((entry, i) => [entry, i]))
  const skipped = new SkippedEntries()
  const recordings: Recording[] = []
  for (const entry of inPollyOrder(entries)) {
    const result = reader.entry(entry, positions.get(entry)!)
    if (typeof result === 'string') skipped.add(result)
    else recordings.push(result)
  }
  const warning = skipped.warning(file)
  if (warning) onWarning?.(warning)
  return recordings
}
