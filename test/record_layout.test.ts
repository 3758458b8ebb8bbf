/**
 * Replay builds most binary records from the layout the native reader finds in their bytes; every
 * record must come out exactly as the general MessagePack decoder gives it, and records of another
 * shape must still be decoded the general way.
 */
import { join } from 'node:path'
import test from 'ava'
import { decodeRecording, openBinaryStore, writeBinary } from '../lib/formats/binary.js'
import { newResult, SLOT_LAYOUT } from '../lib/formats/find_result.js'
import { hasLayout } from '../lib/formats/record_layout.js'
import { DEFAULT_MATCH_ON, keyOf } from '../lib/matchers.js'
import type { Recording } from '../lib/model.js'
import { native } from './helpers/native.js'
import { tempDir } from './helpers/tmp.js'

const response = (extra: Partial<Recording['outcome']> = {}): Recording['outcome'] => ({
  status: 200,
  headers: [['content-type', 'text/plain']],
  body: Buffer.from('hello'),
  ...extra,
})

const manyHeaders = Array.from({ length: 70 }, (_, i) => [`x-h${i}`, String(i)] as [string, string])

/** Records of every shape the layout covers, and some it leaves to the general decoder. */
const CASES: { name: string; laidOut: boolean; recording: Recording }[] = [
  {
    name: 'a plain GET',
    laidOut: true,
    recording: { request: { method: 'GET', url: 'https://a.test/1', headers: [] }, outcome: response() },
  },
  {
    name: 'a POST with a body and request headers',
    laidOut: true,
    recording: {
      request: {
        method: 'POST',
        url: 'https://a.test/2?x=1',
        headers: [
          ['content-type', 'application/json'],
          ['x-trace', 't'],
        ],
        body: Buffer.from('{"i":2}'),
      },
      outcome: response({ status: 201 }),
    },
  },
  {
    name: 'a response without a body, with a reason phrase',
    laidOut: true,
    recording: {
      request: { method: 'HEAD', url: 'https://a.test/3', headers: [] },
      outcome: response({ status: 299, statusText: 'Fine Thanks', body: null }),
    },
  },
  {
    name: 'an empty response body stored decoded',
    laidOut: true,
    recording: {
      request: { method: 'GET', url: 'https://a.test/4', headers: [] },
      outcome: response({
        headers: [['content-encoding', 'gzip']],
        body: Buffer.alloc(0),
        bodyDecoded: true,
      }),
    },
  },
  {
    name: 'non-ASCII text in a URL and a header',
    laidOut: true,
    recording: {
      request: { method: 'GET', url: 'https://a.test/caf%C3%A9?q=é', headers: [['x-name', 'Zoë']] },
      outcome: response({ headers: [['x-greeting', 'grüß dich ✓']] }),
    },
  },
  {
    name: 'long strings (16-bit lengths) in the URL and a header',
    laidOut: true,
    recording: {
      request: { method: 'GET', url: `https://a.test/long?q=${'x'.repeat(300)}`, headers: [] },
      outcome: response({ headers: [['x-long', 'ü'.repeat(200)]] }),
    },
  },
  {
    name: 'binary request-body bytes between ASCII strings, and a reason phrase',
    laidOut: true,
    recording: {
      request: {
        method: 'PUT',
        url: 'https://a.test/bin',
        headers: [['content-type', 'application/octet-stream']],
        body: Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x22, 0x5c]),
      },
      outcome: response({ status: 202, statusText: 'Queued Up', headers: [['x-a', '1']] }),
    },
  },
  {
    name: 'a request body of 5 KiB between the request and the response strings',
    laidOut: true,
    recording: {
      request: {
        method: 'POST',
        url: 'https://a.test/large-body',
        headers: [['content-type', 'text/plain']],
        body: Buffer.alloc(5000, 'a'),
      },
      outcome: response({ headers: [['x-after', 'the body']] }),
    },
  },
  {
    name: 'a header value starting with a byte-order mark',
    laidOut: false,
    recording: {
      request: { method: 'GET', url: 'https://a.test/bom', headers: [] },
      outcome: response({ headers: [['x-bom', `\ufeff${'b'.repeat(80)}`]] }),
    },
  },
  {
    name: 'more headers than a layout holds',
    laidOut: false,
    recording: {
      request: { method: 'GET', url: 'https://a.test/6', headers: manyHeaders },
      outcome: response(),
    },
  },
  {
    name: 'a recorded error',
    laidOut: false,
    recording: {
      request: { method: 'GET', url: 'https://a.test/7', headers: [] },
      outcome: { errorClass: 'TypeError', name: 'TypeError', message: 'fetch failed', code: 'ECONNREFUSED' },
    },
  },
]

const keyOfCase = (recording: Recording) => keyOf(recording.request, DEFAULT_MATCH_ON)

/** A lookup of a recorded request by its key, as the DVD makes it. */
const queryOf = (recording: Recording) => ({
  request: recording.request,
  key: () => keyOfCase(recording),
  parts: undefined,
})

function writeCases(): string {
  const file = join(tempDir(), 'layout.dvd.lz4')
  writeBinary(
    file,
    CASES.map(({ recording }) => ({ kind: 'recording', recording })),
    DEFAULT_MATCH_ON,
  )
  return file
}

test('every record replayed from its layout equals the general decoding of its bytes', (t) => {
  const store = openBinaryStore(writeCases(), DEFAULT_MATCH_ON)
  CASES.forEach(({ name, recording }, id) => {
    const found = store.find(queryOf(recording), 0, null)
    t.is(found?.id, id, name)
    t.deepEqual(found?.request(), recording.request, name)
    const general = decodeRecording(store.rawRecord(id), 'layout.dvd.lz4', id)
    t.deepEqual(store.get(id), general, name)
    t.is(general.request.url, recording.request.url, name)
  })
  store.close()
})

test('the native reader lays out the common records and leaves the others to the general decoder', (t) => {
  const reader = native.NativeDvdReader.open(writeCases())
  const result = newResult()
  const layout = result.subarray(SLOT_LAYOUT)
  CASES.forEach(({ name, laidOut, recording }, id) => {
    const target = Buffer.alloc(1 << 16)
    reader.find(keyOfCase(recording), '', '', '', 0, null, target, 0, result)
    t.is(hasLayout(layout), laidOut, `${name} (find)`)
    reader.read(id, target, 0, result)
    t.is(hasLayout(layout), laidOut, `${name} (read)`)
  })
  reader.close()
})

test('records replayed across many slabs keep their bodies intact', (t) => {
  // 2 KiB bodies: a 64 KiB slab fills after about 30 of them, and the next lookup starts a new one.
  const recordings: Recording[] = Array.from({ length: 100 }, (_, i) => ({
    request: { method: 'GET', url: `https://a.test/big/${i}`, headers: [] },
    outcome: response({ body: Buffer.alloc(2048, i) }),
  }))
  const file = join(tempDir(), 'slabs.dvd.lz4')
  writeBinary(
    file,
    recordings.map((recording) => ({ kind: 'recording', recording })),
    DEFAULT_MATCH_ON,
  )
  const store = openBinaryStore(file, DEFAULT_MATCH_ON)
  const bodies = recordings.map((recording, id) => {
    t.is(store.find(queryOf(recording), 0, null)?.id, id)
    return (store.get(id).outcome as { body: Uint8Array }).body
  })
  // Checked once all are replayed: no body handed out was overwritten by a later record.
  bodies.forEach((body, id) => {
    t.deepEqual(Buffer.from(body), Buffer.alloc(2048, id), `body ${id}`)
  })
  store.close()
})
