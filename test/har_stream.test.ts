/**
 * The streaming HAR reader finds `log.entries` and its items wherever the reader's 4 MiB chunks
 * cut the file, agreeing with a reading of the whole file by JSON.parse.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import test from 'ava'
import { HarEntryReader, serializeHar } from '../lib/formats/har.js'
import { readHarStream } from '../lib/formats/har_stream.js'
import { DVDFormatError, type Recording } from '../lib/index.js'
import { tempDir } from './helpers/tmp.js'

const CHUNK = 4 << 20

async function streamed(file: string): Promise<Recording[]> {
  const out: Recording[] = []
  for await (const recording of readHarStream(file)) out.push(recording)
  return out
}

/** The entries of a HAR file read whole, as the reference. */
function wholeFile(file: string): Recording[] {
  const reader = new HarEntryReader(file)
  const list = JSON.parse(readFileSync(file, 'utf8')).log.entries as unknown[]
  return list.map((entry, i) => reader.entry(entry, i) as Recording)
}

const SAMPLE: Recording[] = [
  {
    request: { method: 'GET', url: 'http://example.com/a?q="x"', headers: [['x-weird', '"]}\\{[']] },
    outcome: { status: 200, headers: [['content-type', 'text/plain']], body: Buffer.from('"]}[{ \\') },
  },
  {
    request: { method: 'POST', url: 'http://example.com/b', headers: [], body: Buffer.from([0, 1, 2]) },
    outcome: { status: 201, headers: [], body: null },
  },
]

/** The entries list of a HAR file we write, without the brackets. */
function entriesText(recordings: Recording[]): string {
  const text = [...serializeHar(recordings)].join('')
  return text.slice(text.indexOf('"entries": [') + '"entries": ['.length, text.lastIndexOf(']'))
}

test('the streaming reader finds log.entries wherever a chunk boundary cuts the keys before it', async (t) => {
  const dir = tempDir()
  const opening = '{"_pad":"'
  const path = '","log":{"creator":{"entries":[1]},"entries":['
  for (let cut = 0; cut <= path.length; cut++) {
    const file = join(dir, `cut-${cut}.har`)
    // The pad ends `cut` bytes before the 4 MiB boundary, so the boundary falls inside `path`.
    const pad = 'p'.repeat(CHUNK - opening.length - cut)
    writeFileSync(file, `${opening}${pad}${path}${entriesText(SAMPLE)}]}}`)
    t.true(isDeepStrictEqual(await streamed(file), wholeFile(file)), `boundary ${cut} bytes into the path`)
  }
})

for (const shift of [0, 1, 2, 3]) {
  test(`the streaming reader agrees with JSON.parse across chunk boundaries inside entries (shift ${shift})`, async (t) => {
    const file = join(tempDir(), 'tricky.har')
    const big: Recording = {
      request: {
        method: 'GET',
        url: 'http://example.com/big',
        headers: [['x-escapes', `${'x'.repeat(shift)}${'"]\\'.repeat(2 << 20)}`]],
      },
      outcome: { status: 200, headers: [], body: Buffer.alloc(5 << 20, 0x41) },
    }
    writeFileSync(file, [...serializeHar([big, ...SAMPLE])].join(''))
    const expected = wholeFile(file)
    t.is(expected.length, 3)
    t.true(isDeepStrictEqual(await streamed(file), expected))
  })
}

test('entries lists outside log are not taken for the entries', async (t) => {
  const file = join(tempDir(), 'decoy.har')
  writeFileSync(
    file,
    `{"other":{"entries":[{"x":1}]},"log":{"pages":[{"entries":[]}],"entries":[${entriesText(SAMPLE)}]}}`,
  )
  t.is((await streamed(file)).length, 2)
})

test('garbage after the HAR object is refused', async (t) => {
  const file = join(tempDir(), 'garbage.har')
  writeFileSync(file, `{"log":{"entries":[]}} x`)
  const error = await t.throwsAsync(streamed(file), { instanceOf: DVDFormatError })
  t.regex(error!.message, /invalid JSON/)
})
