import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import test from 'ava'
import { readJsonStream } from '../lib/formats/json_stream.js'
import { DVDFormatError, parseJson, type Recording, serializeJson } from '../lib/index.js'
import { tempDir } from './helpers/tmp.js'

async function streamed(file: string): Promise<Recording[]> {
  const out: Recording[] = []
  for await (const recording of readJsonStream(file)) out.push(recording)
  return out
}

/**
 * Recordings whose strings are full of escaped quotes next to brackets (a scanner that takes an
 * escaped quote for the end of a string then miscounts the nesting) and long enough to cross the
 * reader's 4 MiB chunks; `shift` moves the chunk boundary through every byte of the pattern.
 */
function tricky(shift: number): Recording[] {
  const escapes = `${'x'.repeat(shift)}${'"]\\'.repeat(2 << 20)}`
  return [
    {
      request: { method: 'GET', url: 'http://example.com/a?q="x"', headers: [['x-weird', escapes]] },
      outcome: { status: 200, headers: [['content-type', 'text/plain']], body: Buffer.alloc(5 << 20, 7) },
    },
    {
      request: {
        method: 'POST',
        url: 'http://example.com/b',
        headers: [['x-end', 'ends with a backslash \\']],
      },
      outcome: { status: 201, headers: [], body: Buffer.from('"]}[{') },
    },
  ]
}

for (const shift of [0, 1, 2, 3, 4]) {
  test(`the streaming reader agrees with JSON.parse across chunk boundaries inside escapes (shift ${shift})`, async (t) => {
    const file = join(tempDir(), 'tricky.dvd.json')
    writeFileSync(file, [...serializeJson(tricky(shift))].join(''))
    const expected = parseJson(readFileSync(file, 'utf8'), file)
    // node's comparison rather than ava's: the recordings hold megabytes.
    t.true(isDeepStrictEqual(await streamed(file), expected))
  })
}

test('the streaming reader reads compact one-line files as Python writes them', async (t) => {
  const file = join(tempDir(), 'compact.dvd.json')
  const items = tricky(0).map((r) => JSON.parse([...serializeJson([r])].join(''))[0])
  writeFileSync(file, JSON.stringify(items))
  const recordings = await streamed(file)
  t.is(recordings.length, 2)
  t.true(isDeepStrictEqual(recordings, parseJson(readFileSync(file, 'utf8'), file)))
})

const malformed: [string, string, RegExp][] = [
  ['not a list', '{"a": 1}', /expected a list/],
  [
    'an unclosed list',
    '[[{"method":"GET","url":"http://e/","headers":[]},{"status":200,"headers":[],"body":null}]',
    /ends before the list is closed/,
  ],
  ['garbage after the list', '[]x', /after the end of the list/],
  [
    'a missing comma',
    '[[{"method":"GET","url":"http://e/","headers":[]},{"status":200,"headers":[],"body":null}] []]',
    /unexpected "\["/,
  ],
  [
    'a bad item',
    '[[{"method":"GET","url":"http://e/","headers":[]},{"status":"200","headers":[],"body":null}]]',
    /\[0\]\[1\]\.status/,
  ],
]
for (const [what, text, message] of malformed) {
  test(`the streaming reader refuses ${what} with a DVDFormatError naming the file`, async (t) => {
    const file = join(tempDir(), 'bad.dvd.json')
    writeFileSync(file, text)
    const error = await t.throwsAsync(streamed(file), { instanceOf: DVDFormatError })
    t.regex(error?.message ?? '', message)
    t.true(error?.message.includes(file))
  })
}
