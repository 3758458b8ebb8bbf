// Writes the fuzz targets' seed corpus (native/fuzz/seeds/) with the project's own binary writer:
// one small valid DVD of each shape the reader distinguishes, and for the decode target the
// blocks of single records. Run after `npm run build`: `node native/fuzz/make-seeds.mjs`.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encodeRecording, writeBinary } from '../../dist/lib/formats/binary.js'
import { DEFAULT_MATCH_ON } from '../../dist/lib/matchers.js'
import { sampleRecordings } from '../../dist/test/helpers/reader_mutations.js'
import { largeBody } from '../../dist/test/helpers/server.js'

const here = dirname(fileURLToPath(import.meta.url))
const seeds = join(here, 'seeds')
const dvds = join(seeds, 'dvd')
const records = join(seeds, 'record')
rmSync(seeds, { recursive: true, force: true })
mkdirSync(dvds, { recursive: true })
mkdirSync(records, { recursive: true })

const json = (value) => Buffer.from(JSON.stringify(value))
const get = (url, body, extra = {}) => ({
  request: { method: 'GET', url, headers: [['accept', 'application/json']] },
  outcome: { status: 200, headers: [['content-type', 'application/json']], body, ...extra },
})

const shapes = {
  empty: [],
  'one-get': [get('https://api.example.com/items?page=1', json({ items: [1, 2, 3] }))],
  // Repeats of a key (buckets of several ids), a request body, a reason phrase, a null body,
  // a body stored decoded, non-ASCII text.
  repeats: [
    get('https://api.example.com/a', json({ n: 1 })),
    get('https://api.example.com/a', json({ n: 2 })),
    {
      request: {
        method: 'POST',
        url: 'http://127.0.0.1:8080/form',
        headers: [],
        body: Buffer.from('a=1&b=2'),
      },
      outcome: { status: 201, statusText: 'Created', headers: [['location', '/form/1']], body: null },
    },
    get('https://api.example.com/a', Buffer.from('gzip was here'), {
      headers: [['content-encoding', 'gzip']],
      bodyDecoded: true,
    }),
    get('https://api.example.com/é?q=ü', Buffer.from('ünïcödé')),
    {
      request: { method: 'DELETE', url: 'https://api.example.com/a/1', headers: [] },
      outcome: { status: 204, headers: [], body: null },
    },
  ],
  // A recorded network error, with the part of a response received before it.
  error: sampleRecordings().filter((r) => r.outcome.errorClass !== undefined),
  // An incompressible body: its block is stored raw rather than LZ4-compressed.
  stored: [get('https://cdn.example.com/blob.bin', largeBody(3000))],
  // Enough records for an index of more than 16 checksum pieces, read lazily piece by piece.
  // Minimal recordings keep it small.
  many: Array.from({ length: 800 }, (_, i) => ({
    request: { method: 'GET', url: `http://a/${i}`, headers: [] },
    outcome: { status: 200, headers: [], body: null },
  })),
}

for (const [name, recordings] of Object.entries(shapes)) {
  const file = join(dvds, `${name}.dvd.lz4`)
  writeBinary(
    file,
    recordings.map((recording) => ({ kind: 'recording', recording })),
    DEFAULT_MATCH_ON,
  )
  console.log(`${file}: ${readFileSync(file).length} bytes`)
}
// A DVD keyed on headers and body too: the replay fast path does not apply to its match_on.
const wide = join(dvds, 'match-body.dvd.lz4')
writeBinary(
  wide,
  shapes.repeats.map((recording) => ({ kind: 'recording', recording })),
  [...DEFAULT_MATCH_ON, 'body'],
)
console.log(`${wide}: ${readFileSync(wide).length} bytes`)

// The decode target reads a record's length (u32 LE) then its blocks: a one-record DVD's blocks
// start right after the header frame (8 + 192 bytes) and the LZ4 frame header (15 bytes).
const BLOCKS_AT = 8 + 192 + 15
for (const name of ['one-get', 'stored', 'error']) {
  const [recording] = shapes[name]
  const raw = encodeRecording(recording)
  const file = join(dvds, `${name}.dvd.lz4`)
  const head = Buffer.alloc(4)
  head.writeUInt32LE(raw.length)
  writeFileSync(
    join(records, `${name}.blocks`),
    Buffer.concat([head, readFileSync(file).subarray(BLOCKS_AT)]),
  )
  writeFileSync(join(records, `${name}.msgpack`), raw)
}
for (const [i, recording] of shapes.repeats.entries()) {
  writeFileSync(join(records, `repeats-${i}.msgpack`), encodeRecording(recording))
}
