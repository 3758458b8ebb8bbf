/**
 * What the behaviour suites share: the formats they run against, and how a test reads back what
 * a DVD saved, whatever its format (through the library's own reading, as a user's next run would).
 */
import { writeFileSync } from 'node:fs'
import { openBinaryStore, writeBinary } from '../../lib/formats/binary.js'
import { readHarFile } from '../../lib/formats/har_stream.js'
import { DEFAULT_MATCH_ON, type Recording, serializeJson } from '../../lib/index.js'
import { readJsonFile } from '../../lib/loader.js'

/** The storage a suite runs against (binary: with the addon, or the TS reader, per test file). */
export type Format = 'json' | 'binary' | 'har'

/** The file suffix of each format. */
export function extOf(format: Format): string {
  return { json: 'dvd.json', binary: 'dvd.lz4', har: 'har' }[format]
}

/** The recordings saved in `file`, in order. */
export async function savedRecordings(file: string): Promise<Recording[]> {
  if (file.endsWith('.dvd.json')) return readJsonFile(file)
  if (file.endsWith('.har')) return readHarFile(file)
  const store = openBinaryStore(file, DEFAULT_MATCH_ON, () => {})
  try {
    return Array.from({ length: store.count }, (_, id) => store.get(id))
  } finally {
    store.close()
  }
}

/** The body of a saved response, as text. */
export function bodyText(recording: Recording): string {
  const { outcome } = recording
  return 'body' in outcome && outcome.body ? Buffer.from(outcome.body).toString() : ''
}

/**
 * Everything saved in `file` as one text (JSON of its recordings, bodies as latin1 text), for
 * checking that a value was, or was not, written whatever the format compresses.
 */
export async function savedText(file: string): Promise<string> {
  const recordings = await savedRecordings(file)
  // The replacer sees what a Buffer's toJSON made of it; its holder still has the bytes.
  return JSON.stringify(recordings, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key]
    return raw instanceof Uint8Array ? Buffer.from(raw).toString('latin1') : value
  })
}

/** Writes `recordings` into a new DVD `file`, in the format its name says. */
export function writeRecordings(file: string, recordings: Recording[]): void {
  if (file.endsWith('.dvd.json')) writeFileSync(file, [...serializeJson(recordings)].join(''))
  else
    writeBinary(
      file,
      recordings.map((recording) => ({ kind: 'recording' as const, recording })),
      DEFAULT_MATCH_ON,
    )
}
