/**
 * How streamed bodies' chunks are stored: a few bytes per chunk in both formats, only for bodies
 * that came in more than one chunk, checked when read, and dropped when the body they describe
 * was rewritten.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { decodeRecording, encodeRecording } from '../lib/formats/binary.js'
import { chunksFromBytes, chunksToBytes } from '../lib/formats/body_chunks.js'
import { serializeHar } from '../lib/formats/har.js'
import { readHarFile } from '../lib/formats/har_stream.js'
import { recordingJson } from '../lib/formats/json.js'
import { DVDFormatError, DVDLoader, type DVDResponse, parseJson, type Recording } from '../lib/index.js'
import { startServer } from './helpers/server.js'
import { startStreamServer } from './helpers/stream_server.js'
import { tempDir } from './helpers/tmp.js'

const body = Buffer.from('data: one\n\ndata: two\n\ndata: three\n\n')

function streamed(chunks: DVDResponse['chunks']): Recording {
  return {
    request: { method: 'GET', url: 'http://127.0.0.1:1/events', headers: [] },
    outcome: { status: 200, headers: [['content-type', 'text/event-stream']], body, chunks },
  }
}

const CHUNKS = { lengths: [11, 11, 13], offsetsMs: [0, 30, 1250] }

test('a JSON DVD keeps chunk lengths and the gaps between their arrivals', (t) => {
  const json = JSON.parse(recordingJson(streamed(CHUNKS)))
  t.deepEqual(json[1].chunks, { lengths: [11, 11, 13], gaps_ms: [0, 30, 1220] })
  const [read] = parseJson(`[${recordingJson(streamed(CHUNKS))}]`, 'x.dvd.json')
  t.deepEqual((read!.outcome as DVDResponse).chunks, CHUNKS)
})

test('a binary DVD keeps them as varints, a few bytes per chunk', (t) => {
  const bytes = chunksToBytes(CHUNKS)
  t.is(bytes.length, 7) // 11, 0, 11, 30, 13, then 1220 in two bytes
  t.deepEqual(chunksFromBytes(bytes, body.length), CHUNKS)
  const read = decodeRecording(encodeRecording(streamed(CHUNKS)), 'x.dvd.lz4', 0)
  t.deepEqual((read.outcome as DVDResponse).chunks, CHUNKS)
})

test('chunks that no longer describe the body are not written', (t) => {
  const edited = streamed({ lengths: [11, 11], offsetsMs: [0, 30] })
  t.false('chunks' in JSON.parse(recordingJson(edited))[1])
  const read = decodeRecording(encodeRecording(edited), 'x.dvd.lz4', 0)
  t.is((read.outcome as DVDResponse).chunks, undefined)
})

test('chunks that do not add up to the body make the file fail with a DVDFormatError', (t) => {
  const json = JSON.parse(recordingJson(streamed(CHUNKS)))
  json[1].chunks.lengths[0] = 12
  const error = t.throws(() => parseJson(JSON.stringify([json]), 'x.dvd.json'), {
    instanceOf: DVDFormatError,
  })
  t.regex(error.message, /\[0\]\[1\]\.chunks/)
  t.regex(error.message, /add up to 36 bytes but the body has 35/)
  for (const chunks of [{ lengths: [35] }, { lengths: [0, 35], gaps_ms: [0, 1] }, [35, 0], 'x']) {
    json[1].chunks = chunks
    t.throws(() => parseJson(JSON.stringify([json]), 'x.dvd.json'), { instanceOf: DVDFormatError })
  }
})

test('damaged binary chunk varints fail with a DVDFormatError', (t) => {
  t.regex(String(chunksFromBytes(Uint8Array.of(35, 0x80), 35)), /middle of a number/)
  t.regex(String(chunksFromBytes(Uint8Array.of(35), 35)), /1 chunk lengths but 0 gaps/)
  t.regex(String(chunksFromBytes(new Uint8Array(9).fill(0xff), 35)), /too long/)
  const record = encodeRecording(streamed(CHUNKS))
  const at = record.indexOf(Buffer.from(chunksToBytes(CHUNKS)))
  record[at] = 12
  t.throws(() => decodeRecording(record, 'x.dvd.lz4', 3), {
    instanceOf: DVDFormatError,
    message: /record #3\.response\.chunks/,
  })
})

test('a body that arrived in one piece is stored without chunks', async (t) => {
  const server = await startServer()
  const file = join(tempDir(), 'whole.dvd.json')
  await DVDLoader.use(file, { recordMode: 'once' }, async (dvd) => {
    await (
      await fetch(`${server.origin}/json`, { dispatcher: dvd.dispatcher } as unknown as RequestInit)
    ).text()
  })
  await server.close()
  t.false('chunks' in JSON.parse(readFileSync(file, 'utf8'))[0][1])
})

test('a body rewritten by beforeRecordResponse is stored without its old chunks', async (t) => {
  const server = await startStreamServer()
  const file = join(tempDir(), 'rewritten.dvd.json')
  const options = {
    recordMode: 'once' as const,
    beforeRecordResponse: (response: DVDResponse) => ({ ...response, body: Buffer.from('replaced') }),
  }
  await DVDLoader.use(file, options, async (dvd) => {
    await (
      await fetch(`${server.origin}/sse?n=3&gap=30`, { dispatcher: dvd.dispatcher } as unknown as RequestInit)
    ).text()
  })
  await server.close()
  const [, response] = JSON.parse(readFileSync(file, 'utf8'))[0]
  t.false('chunks' in response)
})

test('a HAR DVD keeps them in content._dvdChunks', async (t) => {
  const file = join(tempDir(), 'streamed.har')
  writeFileSync(file, [...serializeHar([streamed(CHUNKS)])].join(''))
  const content = JSON.parse(readFileSync(file, 'utf8')).log.entries[0].response.content
  t.deepEqual(content._dvdChunks, { lengths: [11, 11, 13], gaps_ms: [0, 30, 1220] })
  const [read] = await readHarFile(file)
  t.deepEqual((read!.outcome as DVDResponse).chunks, CHUNKS)
})
