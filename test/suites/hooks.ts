/** Hooks, filters, extra matchers and play counts, against every storage. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TestFn } from 'ava'
import { DVDLoader, type DVDOptions, type LoadedDVD, type Recording } from '../../lib/index.js'
import { startServer } from '../helpers/server.js'
import { tempDir } from '../helpers/tmp.js'

import { extOf, type Format, savedRecordings, savedText, writeRecordings } from './format.js'

export function hooksSuite(test: TestFn, format: Format): void {
  const ext = extOf(format)

  const get = async (dvd: LoadedDVD, url: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url, { headers, dispatcher: dvd.dispatcher } as unknown as RequestInit)
    return { status: res.status, text: await res.text() }
  }

  async function recordOnce(options: DVDOptions, run: (dvd: LoadedDVD, origin: string) => Promise<void>) {
    const server = await startServer()
    const file = join(tempDir(), `hooks.${ext}`)
    const dvd = await DVDLoader.open(file, { ...options, recordMode: 'once' })
    await run(dvd, server.origin)
    await dvd.close()
    return { server, file }
  }

  test('filterHeaders keeps the named headers out of the file and out of matching', async (t) => {
    const options: DVDOptions = {
      filterHeaders: ['Authorization', 'x-trace-id'],
      matchOn: ['method', 'path', 'headers'],
    }
    const { server, file } = await recordOnce(options, async (dvd, origin) => {
      await get(dvd, `${origin}/json`, { authorization: 'Bearer live-secret', 'x-trace-id': 'abc' })
    })
    const text = await savedText(file)
    t.false(text.includes('live-secret'))
    t.false(text.includes('x-trace-id'))
    await server.close()
    const play = await DVDLoader.open(file, { ...options, recordMode: 'none' })
    const replayed = await get(play, `${server.origin}/json`, {
      authorization: 'Bearer other',
      'x-trace-id': 'zzz',
    })
    t.is(replayed.status, 200)
  })

  test('beforeRecordRequest rewrites the request before recording and before lookup', async (t) => {
    const options: DVDOptions = {
      beforeRecordRequest: (req) => ({ ...req, url: req.url.replace(/token=[^&]+/, 'token=REDACTED') }),
    }
    const { server, file } = await recordOnce(options, async (dvd, origin) => {
      await get(dvd, `${origin}/json?token=live-token`)
    })
    t.is((await savedRecordings(file))[0]!.request.url, `${server.origin}/json?token=REDACTED`)
    await server.close()
    const play = await DVDLoader.open(file, { ...options, recordMode: 'none' })
    t.is((await get(play, `${server.origin}/json?token=another-token`)).status, 200)
  })

  test('beforeRecordRequest returning null lets the request through live, also while replaying', async (t) => {
    const options: DVDOptions = { beforeRecordRequest: (req) => (req.url.includes('/counter') ? null : req) }
    const { server, file } = await recordOnce(options, async (dvd, origin) => {
      await get(dvd, `${origin}/json`)
      t.is((await get(dvd, `${origin}/counter`)).text, 'call 1')
    })
    const play = await DVDLoader.open(file, { ...options, recordMode: 'none' })
    t.is(play.count, 1)
    t.is((await get(play, `${server.origin}/counter`)).text, 'call 2')
    t.is((await get(play, `${server.origin}/json`)).status, 200)
    t.is(server.hits(), 3)
    await server.close()
  })

  test('a beforeRecordRequest hook that throws marks the request not recordable', async (t) => {
    const options: DVDOptions = {
      beforeRecordRequest: () => {
        throw new Error('hook bug')
      },
    }
    const { server, file } = await recordOnce(options, async (dvd, origin) => {
      t.is((await get(dvd, `${origin}/counter`)).text, 'call 1')
      t.is(dvd.count, 0)
    })
    t.throws(() => readFileSync(file))
    await server.close()
  })

  test('beforeRecordResponse rewrites what is stored, not what the live caller gets', async (t) => {
    const options: DVDOptions = {
      beforeRecordResponse: (res) => ({
        ...res,
        headers: res.headers.filter(([k]) => k.toLowerCase() !== 'date'),
        body: Buffer.from('redacted'),
      }),
    }
    const { server, file } = await recordOnce(options, async (dvd, origin) => {
      t.is((await get(dvd, `${origin}/counter`)).text, 'call 1')
    })
    await server.close()
    const play = await DVDLoader.open(file, { recordMode: 'none' })
    t.is((await get(play, `${server.origin}/counter`)).text, 'redacted')
    t.false((await savedText(file)).toLowerCase().includes('"date"'))
  })

  test('extraMatchers choose among the candidates of a key', async (t) => {
    const byTenant = (recorded: { headers: [string, string][] }, incoming: { headers: [string, string][] }) =>
      recorded.headers.find(([k]) => k === 'x-tenant')?.[1] ===
      incoming.headers.find(([k]) => k === 'x-tenant')?.[1]
    const { server, file } = await recordOnce({}, async (dvd, origin) => {
      await get(dvd, `${origin}/counter`, { 'x-tenant': 'a' })
      await get(dvd, `${origin}/counter`, { 'x-tenant': 'b' })
    })
    await server.close()
    const play = await DVDLoader.open(file, { recordMode: 'none', extraMatchers: [byTenant] })
    t.is((await get(play, `${server.origin}/counter`, { 'x-tenant': 'b' })).text, 'call 2')
    t.is((await get(play, `${server.origin}/counter`, { 'x-tenant': 'a' })).text, 'call 1')
  })

  test('allowPlaybackRepeats plays recordings in order, then keeps answering with the last one', async (t) => {
    const { server, file } = await recordOnce({}, async (dvd, origin) => {
      await get(dvd, `${origin}/counter`)
      await get(dvd, `${origin}/counter`)
    })
    await server.close()
    const play = await DVDLoader.open(file, { recordMode: 'none', allowPlaybackRepeats: true })
    const texts = []
    for (let i = 0; i < 4; i++) texts.push((await get(play, `${server.origin}/counter`)).text)
    t.deepEqual(texts, ['call 1', 'call 2', 'call 2', 'call 2'])
    t.is(play.playCount, 4)
  })

  test('play counts: playCount, allPlayed and unplayed() follow what was replayed', async (t) => {
    const { server, file } = await recordOnce({}, async (dvd, origin) => {
      await get(dvd, `${origin}/json?n=1`)
      await get(dvd, `${origin}/json?n=2`)
      await get(dvd, `${origin}/json?n=3`)
    })
    await server.close()
    const play = await DVDLoader.open(file, { recordMode: 'none' })
    t.false(play.allPlayed)
    t.is(play.unplayed().length, 3)
    await get(play, `${server.origin}/json?n=2`)
    t.is(play.playCount, 1)
    t.deepEqual(
      play.unplayed().map((r) => new URL(r.request.url).search),
      ['?n=1', '?n=3'],
    )
    await get(play, `${server.origin}/json?n=1`)
    await get(play, `${server.origin}/json?n=3`)
    t.true(play.allPlayed)
    t.is(play.unplayed().length, 0)
  })

  test('play counts stay exact on a DVD of thousands of recordings replayed out of order', async (t) => {
    const n = 3000
    const file = join(tempDir(), `many.${ext}`)
    const recording = (i: number): Recording => ({
      request: { method: 'GET', url: `http://api.example.test/item?i=${i}`, headers: [] },
      outcome: { status: 200, headers: [], body: Buffer.from(`item ${i}`) },
    })
    writeRecordings(
      file,
      Array.from({ length: n }, (_, i) => recording(i)),
    )
    const play = await DVDLoader.open(file, { recordMode: 'none' })
    // Highest ids first, so the counter must grow to ids it has not seen.
    for (let i = n - 1; i >= 0; i -= 2)
      t.is((await get(play, `http://api.example.test/item?i=${i}`)).text, `item ${i}`)
    t.is(play.playCount, n / 2)
    t.is(play.unplayed().length, n / 2)
    t.false(play.allPlayed)
    t.deepEqual(
      play
        .unplayed()
        .slice(0, 2)
        .map((r) => r.request.url),
      ['http://api.example.test/item?i=0', 'http://api.example.test/item?i=2'],
    )
    for (let i = 0; i < n; i += 2) await get(play, `http://api.example.test/item?i=${i}`)
    t.true(play.allPlayed)
    t.is(play.playCount, n)
    // Every recording answered once: a repeat has nothing left to play.
    await t.throwsAsync(get(play, 'http://api.example.test/item?i=5'))
  })

  test('hooks and extra matchers get plain requests: a spread copy keeps the headers', async (t) => {
    const seen: Record<string, unknown>[] = []
    const options: DVDOptions = {
      beforeRecordRequest: (request) => {
        seen.push({ ...request })
        return { ...request, url: request.url.replace('/json?x=1', '/json') }
      },
      extraMatchers: [
        (recorded, incoming) => {
          seen.push({ ...incoming })
          return recorded.method === incoming.method
        },
      ],
    }
    const { server, file } = await recordOnce(options, async (dvd, origin) => {
      await get(dvd, `${origin}/json?x=1`, { 'x-mark': 'live' })
    })
    await server.close()
    const play = await DVDLoader.open(file, { ...options, recordMode: 'none' })
    t.is((await get(play, `${server.origin}/json?x=1`, { 'x-mark': 'replay' })).status, 200)
    const marks = seen.map((r) => (r.headers as [string, string][]).find(([name]) => name === 'x-mark')?.[1])
    t.deepEqual(marks, ['live', 'replay', 'replay'])
    const stored = (await savedRecordings(file))[0]!.request
    t.true(stored.headers.some(([name, value]) => name === 'x-mark' && value === 'live'))
  })
}
