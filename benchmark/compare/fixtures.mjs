// Writes the workload of workload.mjs in each tool's own on-disk format, streaming, so the files can
// be larger than V8's maximum string length. Each builder returns the path its tool opens.
import { createHash } from 'node:crypto'
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Polly } from '@pollyjs/core'
import { writeBinary } from '../../dist/lib/formats/binary.js'
import { serializeJson } from '../../dist/lib/formats/json.js'
import { DEFAULT_MATCH_ON } from '../../dist/lib/index.js'
import { BODY_BYTES, body, contentType, request } from './workload.mjs'

const require = createRequire(import.meta.url)
const undiciRoot = dirname(require.resolve('undici'))
// undici's own hashing, so the snapshot file is exactly what SnapshotAgent would have written.
const { createRequestHash } = require(join(undiciRoot, 'lib/mock/snapshot-recorder.js'))
// The two request headers SnapshotAgent is told to match on (see replay-worker.mjs).
export const SNAPSHOT_MATCH_HEADERS = ['x-trace-id', 'accept']
export const POLLY_RECORDING = 'dvd-rw-benchmark'

/** Buffered sequential writer. */
function writer(file) {
  const fd = openSync(file, 'w')
  let pending = []
  let size = 0
  const flush = () => {
    if (pending.length) writeSync(fd, pending.join(''))
    pending = []
    size = 0
  }
  return {
    write(s) {
      pending.push(s)
      size += s.length
      if (size > 1 << 22) flush()
    },
    close() {
      flush()
      closeSync(fd)
    },
  }
}

function dvdRecording(i, kind) {
  const req = request(i)
  return {
    request: {
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: req.body === null ? null : Buffer.from(req.body),
    },
    outcome: {
      status: 200,
      headers: [
        ['content-type', contentType(kind)],
        ['content-length', String(BODY_BYTES)],
      ],
      body: Buffer.from(body(i, kind)),
    },
  }
}

/** dvd-rw JSON DVD (also Python dvd-rw's file). */
export function buildDvdJson(dir, n, kind) {
  const file = join(dir, 'bench.dvd.json')
  const w = writer(file)
  for (const chunk of serializeJson(
    (function* () {
      for (let i = 0; i < n; i++) yield dvdRecording(i, kind)
    })(),
  ))
    w.write(chunk)
  w.close()
  return file
}

/** dvd-rw binary DVD. */
export function buildDvdBinary(dir, n, kind) {
  const file = join(dir, 'bench.dvd.lz4')
  writeBinary(
    file,
    (function* () {
      for (let i = 0; i < n; i++) yield { kind: 'recording', recording: dvdRecording(i, kind) }
    })(),
    DEFAULT_MATCH_ON,
  )
  return file
}

/** undici SnapshotAgent file: `JSON.stringify([{ hash, snapshot }], null, 2)`, as saveSnapshots writes it. */
export function buildUndiciSnapshot(dir, n, kind) {
  const file = join(dir, 'snapshots.json')
  const w = writer(file)
  const timestamp = new Date().toISOString()
  w.write('[')
  for (let i = 0; i < n; i++) {
    const req = request(i)
    const headers = Object.fromEntries(req.headers.filter(([k]) => SNAPSHOT_MATCH_HEADERS.includes(k)))
    const formatted = { method: req.method, url: req.url, headers, body: req.body ?? '' }
    const entry = {
      hash: createRequestHash(formatted),
      snapshot: {
        request: formatted,
        responses: [
          {
            statusCode: 200,
            headers: { 'content-type': contentType(kind), 'content-length': String(BODY_BYTES) },
            body: Buffer.from(body(i, kind)).toString('base64'),
            trailers: {},
          },
        ],
        callCount: 0,
        timestamp,
      },
    }
    w.write(`${i ? ',' : ''}\n  ${JSON.stringify(entry, null, 2).replaceAll('\n', '\n  ')}`)
  }
  w.write('\n]')
  w.close()
  return file
}

/**
 * nock.back fixture (the JSON array nock's recorder writes with `output_objects`): binary bodies as
 * hex with `responseIsBinary`, JSON bodies as parsed objects, JSON request bodies parsed.
 */
export function buildNockBack(dir, n, kind) {
  const file = join(dir, 'nock-back.json')
  const w = writer(file)
  w.write('[')
  for (let i = 0; i < n; i++) {
    const req = request(i)
    const b = body(i, kind)
    const def = {
      scope: `https://${req.host}:443`,
      method: req.method,
      path: req.path,
      body: req.body === null ? '' : JSON.parse(req.body),
      status: 200,
      response: kind === 'json' ? JSON.parse(Buffer.from(b).toString()) : Buffer.from(b).toString('hex'),
      rawHeaders: ['content-type', contentType(kind), 'content-length', String(BODY_BYTES)],
      responseIsBinary: kind !== 'json',
    }
    w.write(`${i ? ',' : ''}\n  ${JSON.stringify(def, null, 2).replaceAll('\n', '\n  ')}`)
  }
  w.write('\n]\n')
  w.close()
  return { dir, file: 'nock-back.json' }
}

async function pollyRecordingId() {
  const polly = new Polly(POLLY_RECORDING, { logLevel: 'silent' })
  const id = polly.recordingId
  await polly.stop()
  return id
}

/**
 * Polly.js recording: `<recordingsDir>/<recordingId>/recording.har`, as persister-fs lays it out.
 * Entry ids are Polly's: md5 of the stable-stringified identifiers (method, url, body; the replay
 * matches with `headers: false, order: false`, see replay-worker.mjs).
 */
export async function buildPollyHar(dir, n, kind) {
  const recordingsDir = join(dir, 'polly')
  const recordingId = await pollyRecordingId()
  mkdirSync(join(recordingsDir, recordingId), { recursive: true })
  const w = writer(join(recordingsDir, recordingId, 'recording.har'))
  const started = new Date().toISOString()
  w.write(
    `{\n  "log": {\n    "_recordingName": ${JSON.stringify(POLLY_RECORDING)},\n    "creator": {\n      "comment": "persister:fs",\n      "name": "Polly.JS",\n      "version": "6.0.6"\n    },\n    "entries": [`,
  )
  for (let i = 0; i < n; i++) {
    const req = request(i)
    const b = Buffer.from(body(i, kind))
    const identifiers = { method: req.method, url: req.url }
    if (req.body !== null) identifiers.body = req.body
    const entry = {
      _id: createHash('md5').update(stableStringify(identifiers)).digest('hex'),
      _order: 0,
      cache: {},
      request: {
        bodySize: req.body === null ? 0 : Buffer.byteLength(req.body),
        cookies: [],
        headers: req.headers.map(([name, value]) => ({ name, value })),
        headersSize: -1,
        httpVersion: 'HTTP/1.1',
        method: req.method,
        ...(req.body === null ? {} : { postData: { mimeType: 'text/plain;charset=UTF-8', text: req.body } }),
        queryString: [...new URL(req.url).searchParams].map(([name, value]) => ({ name, value })),
        url: req.url,
      },
      response: {
        bodySize: -1,
        content:
          kind === 'json'
            ? { mimeType: contentType(kind), size: b.length, text: b.toString() }
            : { encoding: 'base64', mimeType: contentType(kind), size: b.length, text: b.toString('base64') },
        cookies: [],
        headers: [
          { name: 'content-type', value: contentType(kind) },
          { name: 'content-length', value: String(BODY_BYTES) },
        ],
        headersSize: -1,
        httpVersion: 'HTTP/1.1',
        redirectURL: '',
        status: 200,
        statusText: 'OK',
      },
      startedDateTime: started,
      time: 0,
      timings: { blocked: -1, connect: -1, dns: -1, receive: 0, send: 0, ssl: -1, wait: 0 },
    }
    w.write(`${i ? ',' : ''}\n      ${JSON.stringify(entry, null, 2).replaceAll('\n', '\n      ')}`)
  }
  w.write('\n    ],\n    "pages": [],\n    "version": "1.2"\n  }\n}\n')
  w.close()
  return recordingsDir
}

// fast-json-stable-stringify for plain string-valued objects (Polly's identifier hashing).
function stableStringify(obj) {
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${JSON.stringify(obj[k])}`)
    .join(',')}}`
}

/** md5 of each expected body, 16 bytes per request: Python verifies its lookups against these. */
export function buildDigests(dir, n, kind) {
  const file = join(dir, 'digests.bin')
  const fd = openSync(file, 'w')
  const chunk = Buffer.alloc(16 * 4096)
  for (let start = 0; start < n; start += 4096) {
    const end = Math.min(n, start + 4096)
    for (let i = start; i < end; i++)
      createHash('md5')
        .update(body(i, kind))
        .digest()
        .copy(chunk, (i - start) * 16)
    writeSync(fd, chunk, 0, (end - start) * 16)
  }
  closeSync(fd)
  return file
}
