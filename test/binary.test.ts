import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { Unpackr } from 'msgpackr'
import { BinaryDVDWriter } from '../lib/formats/binary.js'
import { DEFAULT_MATCH_ON, DVDFormatError, DVDLoader, DVDSaveError, type LoadedDVD } from '../lib/index.js'
import { startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

const get = async (dvd: LoadedDVD, url: string) => {
  const res = await fetch(url, { dispatcher: dvd.dispatcher } as unknown as RequestInit)
  return { status: res.status, text: await res.text() }
}

/** Records the given paths into a new binary DVD and returns its path and the server origin. */
async function recordBinary(paths: string[], name = 'x.dvd.lz4') {
  const server = await startServer()
  const file = join(tempDir(), name)
  await DVDLoader.use(file, { recordMode: 'once' }, async (dvd) => {
    for (const p of paths) await get(dvd, server.origin + p)
  })
  await server.close()
  return { file, origin: server.origin }
}

test('a DVD path ending in .lz4 is saved as a binary DVD, and opening detects it by content', async (t) => {
  const { file, origin } = await recordBinary(['/json?a=1', '/bin'])
  const head = readFileSync(file).subarray(0, 4)
  t.deepEqual([...head], [0x5d, 0x2a, 0x4d, 0x18])
  const warnings: string[] = []
  const dvd = await DVDLoader.open(file, { recordMode: 'none', onWarning: (m) => warnings.push(m) })
  t.is(dvd.format, 'binary')
  t.is(dvd.count, 2)
  t.is((await get(dvd, `${origin}/json?a=1`)).status, 200)
  await dvd.close()
  t.is(warnings.length, 1)
  t.regex(warnings[0]!, /#1 GET .*\/bin/)
})

test('the standard lz4 tool decodes a binary DVD to a plain MessagePack stream of its interactions', async (t) => {
  const lz4 = '/usr/bin/lz4'
  t.true(existsSync(lz4), 'the Debian lz4 tool is needed (apt-get install lz4)')
  const { file, origin } = await recordBinary(['/json?a=1', '/counter', '/bin'])
  const stream = execFileSync(lz4, ['-dc', file])
  const values = new Unpackr({ useRecords: false }).unpackMultiple(stream) as {
    request: { url: string }
    response: { status: number; body: Uint8Array }
  }[]
  t.deepEqual(
    values.map((v) => v.request.url),
    [`${origin}/json?a=1`, `${origin}/counter`, `${origin}/bin`],
  )
  t.is(Buffer.from(values[1]!.response.body).toString(), 'call 1')
  t.is(values[2]!.response.body.length, 256)
})

test('new_episodes appends to a binary DVD by rewriting it, keeping the old recordings', async (t) => {
  const { file, origin } = await recordBinary(['/json?a=1'])
  const server = await startServer()
  const dvd = await DVDLoader.open(file, { recordMode: 'new_episodes' })
  await get(dvd, `${origin}/json?a=1`)
  await get(dvd, `${server.origin}/counter`)
  await dvd.close()
  await server.close()
  const again = await DVDLoader.open(file, { recordMode: 'none' })
  t.is(again.count, 2)
  t.is((await get(again, `${server.origin}/counter`)).text, 'call 1')
  t.is((await get(again, `${origin}/json?a=1`)).status, 200)
})

test('a DVD still being replayed keeps working while a new version replaces its file', async (t) => {
  const { file, origin } = await recordBinary(['/json?a=1', '/json?a=2'])
  const reader = await DVDLoader.open(file, { recordMode: 'none' })
  t.is((await get(reader, `${origin}/json?a=1`)).status, 200)
  const server = await startServer()
  await DVDLoader.use(file, { recordMode: 'all' }, async (dvd) => {
    await get(dvd, `${server.origin}/counter`)
  })
  await server.close()
  t.is((await get(reader, `${origin}/json?a=2`)).status, 200)
  await reader.close()
  const fresh = await DVDLoader.open(file, { recordMode: 'none' })
  t.is(fresh.count, 1)
})

test('opening with another matchOn than the index was built for answers correctly, with a warning', async (t) => {
  const { file, origin } = await recordBinary(['/json?a=1', '/json?a=2'])
  const warnings: [string, string][] = []
  const dvd = await DVDLoader.open(file, {
    recordMode: 'none',
    matchOn: ['method', 'path'],
    onWarning: (message, code) => warnings.push([message, code]),
  })
  t.is(warnings.length, 1)
  const [message, code] = warnings[0]!
  t.is(code, 'DVD_WARN_INDEX')
  t.regex(message, /indexed for match_on=method,scheme,host,port,path,query, not method,path/)
  t.regex(message, /dvd-convert reindex/)
  t.true((await get(dvd, `${origin}/json?a=999`)).text.includes('"a":"1"'))
  t.true((await get(dvd, `${origin}/json`)).text.includes('"a":"2"'))
})

test('damaged binary files fail to open with a DVDFormatError naming the file, and stay on disk', async (t) => {
  const { file } = await recordBinary(['/json?a=1', '/bin'])
  const good = readFileSync(file)
  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['truncated', good.subarray(0, good.length - 10)],
    ['only the header', good.subarray(0, 200)],
    ['a flipped index bit', Buffer.from(good.map((b, i) => (i === good.length - 260 ? b ^ 1 : b)))],
  ]
  for (const [what, bytes] of cases) {
    const damaged = join(tempDir(), 'damaged.dvd.lz4')
    writeFileSync(damaged, bytes)
    const error = await t.throwsAsync(
      DVDLoader.open(damaged, { recordMode: 'none' }),
      { instanceOf: DVDFormatError },
      what,
    )
    t.true(error?.message.includes(damaged), what)
    t.regex((error as DVDFormatError).code, /^DVD_ERR_/, what)
    t.deepEqual(readFileSync(damaged), bytes, what)
  }
})

test('a seeded sample of 300 mutated files never crashes: each opens and replays, or fails with DVDFormatError', async (t) => {
  const { file, origin } = await recordBinary(['/json?a=1', '/bin', '/counter'])
  const good = readFileSync(file)
  let seed = 0x9e3779b9
  const rand = (n: number) => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % n
  }
  let failures = 0
  for (let i = 0; i < 300; i++) {
    const bytes = Buffer.from(good)
    const flips = 1 + rand(4)
    for (let f = 0; f < flips; f++) {
      const at = rand(bytes.length)
      bytes[at] = bytes[at]! ^ (1 << rand(8))
    }
    const path = join(tempDir(), `m${i}.dvd.lz4`)
    writeFileSync(path, i % 10 === 0 ? bytes.subarray(0, rand(bytes.length)) : bytes)
    try {
      const dvd = await DVDLoader.open(path, { recordMode: 'none' })
      for (const p of ['/json?a=1', '/bin', '/counter']) {
        await get(dvd, origin + p).catch((error: Error) => {
          if (!((error.cause ?? error) instanceof Error)) throw error
        })
      }
      await dvd.close()
    } catch (error) {
      failures++
      t.true(error instanceof DVDFormatError, String(error))
    }
  }
  t.true(failures > 200, `only ${failures} of 300 mutations were detected`)
})

for (const [kind, bytes, shown] of [
  ['text', Buffer.from('hello, this is not a DVD\n'), /it holds text starting "hello, this is n…"/],
  ['JSON', Buffer.from('{"recordings": []}'), /it holds JSON text starting "\{\\"recordings\\": \[…"/],
  [
    'random bytes',
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2]),
    /it starts with the bytes 89 50 4e 47 0d 0a 1a 0a 00 01 02,/,
  ],
  ['nothing', Buffer.alloc(0), /it is empty/],
] as const) {
  test(`a file named .dvd.lz4 holding ${kind} is "not a binary DVD", with what its first bytes look like`, async (t) => {
    const file = join(tempDir(), 'fake.dvd.lz4')
    writeFileSync(file, bytes)
    const error = await t.throwsAsync(DVDLoader.open(file, { recordMode: 'none' }), {
      instanceOf: DVDFormatError,
    })
    t.is(error?.code, 'DVD_ERR_NOT_DVD')
    t.true(error!.message.startsWith(`${file}: not a binary DVD: `), error!.message)
    t.regex(error!.message, shown)
    t.regex(error!.message, /where a binary DVD starts with the bytes 50 2a 4d 18/)
    t.deepEqual(readFileSync(file), bytes)
  })
}

test('a JSON DVD under a .dvd.lz4 name still opens, by its content', async (t) => {
  const file = join(tempDir(), 'json-inside.dvd.lz4')
  writeFileSync(file, '[]\n')
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  t.is(dvd.format, 'json')
  t.is(dvd.count, 0)
  await dvd.close()
})

test('the last step of a binary save runs off the JavaScript thread and settles once the file is in place', async (t) => {
  const file = join(tempDir(), 'async.dvd.lz4')
  const recording = {
    request: { method: 'GET', url: 'https://a.test/x', headers: [] },
    outcome: { status: 200, headers: [], body: Buffer.from('saved') },
  }
  const writer = new BinaryDVDWriter(file, DEFAULT_MATCH_ON)
  writer.add({ kind: 'recording', recording })
  await writer.finishAsync()
  // The writer was handed to the worker thread: nothing more can be added.
  t.throws(() => writer.add({ kind: 'recording', recording }), { message: /writer is closed/ })
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  const res = await fetch('https://a.test/x', { dispatcher: dvd.dispatcher } as unknown as RequestInit)
  t.is(await res.text(), 'saved')
  await dvd.close()
  // A failed one (a directory where the file goes) rejects with DVDSaveError, and leaves the
  // target as it was.
  const target = join(tempDir(), 'blocked.dvd.lz4')
  mkdirSync(target)
  const blocked = new BinaryDVDWriter(target, DEFAULT_MATCH_ON)
  await t.throwsAsync(blocked.finishAsync(), { instanceOf: DVDSaveError })
  t.true(statSync(target).isDirectory())
})
