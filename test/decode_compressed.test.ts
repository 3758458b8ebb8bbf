import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { DVDLoader, InvalidOptionError, isRecordedError, type LoadedDVD, parseJson } from '../lib/index.js'
import { GZIP_TEXT, startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

const BROTLI_TEXT = 'brotli '.repeat(100)

interface Seen {
  status: number
  headers: [string, string][]
  text: string
}

async function get(dvd: LoadedDVD, url: string): Promise<Seen> {
  const res = await fetch(url, { dispatcher: dvd.dispatcher } as unknown as RequestInit)
  return { status: res.status, headers: [...res.headers], text: await res.text() }
}

const header = (headers: [string, string][], name: string) =>
  headers.find(([k]) => k.toLowerCase() === name)?.[1]

for (const [path, expected] of [
  ['/gzip', GZIP_TEXT],
  ['/br', BROTLI_TEXT],
] as const) {
  test(`decodeCompressed stores the ${path} body decoded, and replays the same decoded body`, async (t) => {
    const server = await startServer()
    const file = join(tempDir(), 'decoded.dvd.json')
    const rec = await DVDLoader.open(file, { recordMode: 'once', decodeCompressed: true })
    const live = await get(rec, server.origin + path)
    await rec.close()
    await server.close()
    t.is(live.text, expected)

    // The file holds the readable body, without content-encoding, with a true content-length.
    const text = readFileSync(file, 'utf8')
    t.false(text.includes('wire_body'))
    const [recording] = parseJson(text, file)
    const outcome = recording!.outcome
    if (isRecordedError(outcome)) return t.fail('recorded an error')
    t.is(header(outcome.headers, 'content-encoding'), undefined)
    t.is(header(outcome.headers, 'content-length'), String(Buffer.byteLength(expected)))
    t.is(Buffer.from(outcome.body!).toString(), expected)
    t.falsy(outcome.bodyDecoded)

    const play = await DVDLoader.open(file, { recordMode: 'none' })
    const replayed = await get(play, server.origin + path)
    await play.close()
    t.is(replayed.status, 200)
    t.is(replayed.text, expected)
    t.is(header(replayed.headers, 'content-encoding'), undefined)
  })
}

test('the vcrpy alias decode_compressed_response works; without it the wire bytes are kept', async (t) => {
  const server = await startServer()
  const dir = tempDir()
  const decoded = join(dir, 'alias.dvd.json')
  const wire = join(dir, 'wire.dvd.json')
  const a = await DVDLoader.open(decoded, { recordMode: 'once', decode_compressed_response: true } as never)
  await get(a, `${server.origin}/gzip`)
  await a.close()
  const b = await DVDLoader.open(wire, { recordMode: 'once' })
  await get(b, `${server.origin}/gzip`)
  await b.close()
  await server.close()
  t.false(readFileSync(decoded, 'utf8').includes('wire_body'))
  t.false(readFileSync(decoded, 'utf8').includes('content-encoding'))
  t.true(readFileSync(wire, 'utf8').includes('wire_body'))
  t.true(readFileSync(wire, 'utf8').includes('"content-encoding","gzip"'))
})

test('decodeCompressed on re-save decodes recordings loaded from the file too', async (t) => {
  const server = await startServer()
  const file = join(tempDir(), 'resave.dvd.json')
  const rec = await DVDLoader.open(file, { recordMode: 'once' })
  await get(rec, `${server.origin}/gzip`)
  await rec.close()
  t.true(readFileSync(file, 'utf8').includes('wire_body'))
  const more = await DVDLoader.open(file, { recordMode: 'new_episodes', decodeCompressed: true })
  await get(more, `${server.origin}/gzip`)
  await get(more, `${server.origin}/br`)
  await more.close()
  await server.close()
  const text = readFileSync(file, 'utf8')
  t.false(text.includes('wire_body'))
  t.false(text.includes('content-encoding'))
  const play = await DVDLoader.open(file, { recordMode: 'none' })
  t.is((await get(play, `${server.origin}/gzip`)).text, GZIP_TEXT)
  t.is((await get(play, `${server.origin}/br`)).text, BROTLI_TEXT)
  await play.close()
})

test('decodeCompressed must be a boolean', async (t) => {
  const error = await t.throwsAsync(
    DVDLoader.open(join(tempDir(), 'x.dvd.json'), { recordMode: 'once', decodeCompressed: 'yes' as never }),
    { instanceOf: InvalidOptionError },
  )
  t.regex(error.message, /decodeCompressed must be true or false/)
})
