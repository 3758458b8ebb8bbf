import { join } from 'node:path'
import test from 'ava'
import {
  Agent,
  getGlobalDispatcher,
  interceptors,
  request,
  setGlobalDispatcher,
  fetch as undiciFetch,
} from 'undici'
import { DVDLoader } from '../lib/index.js'
import { startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

// These tests change the process-wide dispatcher, so they run one at a time.

test.serial(
  'install() serves the global fetch, undici.fetch and undici.request; close() restores the previous dispatcher',
  async (t) => {
    const server = await startServer()
    const original = new Agent()
    setGlobalDispatcher(original)
    const file = join(tempDir(), 'global.dvd.json')
    const dvd = (await DVDLoader.open(file, { recordMode: 'once' })).install()
    t.is(getGlobalDispatcher(), dvd.dispatcher)
    await (await fetch(`${server.origin}/json?via=global-fetch`)).text()
    await (await undiciFetch(`${server.origin}/json?via=undici-fetch`)).text()
    await (await request(`${server.origin}/json?via=undici-request`)).body.text()
    t.is(dvd.count, 3)
    await dvd.close()
    t.is(getGlobalDispatcher(), original)
    await server.close()
  },
)

test.serial('DVDLoader.use installs for the callback only', async (t) => {
  const server = await startServer()
  const before = getGlobalDispatcher()
  const file = join(tempDir(), 'use.dvd.json')
  const text = await DVDLoader.use(file, { recordMode: 'once' }, async (dvd) => {
    t.is(getGlobalDispatcher(), dvd.dispatcher)
    return (await fetch(`${server.origin}/counter`)).text()
  })
  t.is(text, 'call 1')
  t.is(getGlobalDispatcher(), before)
  await server.close()
  const replayed = await DVDLoader.use(file, { recordMode: 'none' }, async () =>
    (await fetch(`${server.origin}/counter`)).text(),
  )
  t.is(replayed, 'call 1')
})

test.serial(
  'nested DVDs stack: the innermost answers, and closing it gives the outer one back',
  async (t) => {
    const server = await startServer()
    const outerFile = join(tempDir(), 'outer.dvd.json')
    const innerFile = join(tempDir(), 'inner.dvd.json')
    await DVDLoader.use(outerFile, { recordMode: 'once' }, async () => {
      t.is(await (await fetch(`${server.origin}/counter`)).text(), 'call 1')
      await DVDLoader.use(innerFile, { recordMode: 'once' }, async () => {
        t.is(await (await fetch(`${server.origin}/counter`)).text(), 'call 2')
      })
      t.is(await (await fetch(`${server.origin}/counter`)).text(), 'call 3')
    })
    await server.close()
    const outer = await DVDLoader.open(outerFile, { recordMode: 'none' })
    const inner = await DVDLoader.open(innerFile, { recordMode: 'none' })
    t.is(outer.count, 2)
    t.is(inner.count, 1)
    t.is(
      inner.dvd.get(0).outcome &&
        Buffer.from((inner.dvd.get(0).outcome as { body: Uint8Array }).body).toString(),
      'call 2',
    )
  },
)

test.serial('an inner DVD records through the network, not through the outer replaying DVD', async (t) => {
  const server = await startServer()
  const outerFile = join(tempDir(), 'outer-replay.dvd.json')
  await DVDLoader.use(outerFile, { recordMode: 'once' }, async () =>
    (await fetch(`${server.origin}/json`)).text(),
  )
  const innerFile = join(tempDir(), 'inner-record.dvd.json')
  const warnings: string[] = []
  const onWarning = (message: string) => warnings.push(message)
  await DVDLoader.use(outerFile, { recordMode: 'none', onWarning }, async () => {
    await DVDLoader.use(innerFile, { recordMode: 'once' }, async () => {
      t.is(await (await fetch(`${server.origin}/counter`)).text(), 'call 1')
    })
  })
  t.is(server.hits(), 2)
  // The outer DVD's recording was not asked for: the request went to the inner one.
  t.is(warnings.length, 1)
  t.regex(warnings[0]!, /1 recording in .*outer-replay\.dvd\.json was never played/)
  await server.close()
})

test.serial('DVDs closed out of order still restore the original dispatcher', async (t) => {
  const original = getGlobalDispatcher()
  const a = (await DVDLoader.open(join(tempDir(), 'a.dvd.json'), { recordMode: 'once' })).install()
  const b = (await DVDLoader.open(join(tempDir(), 'b.dvd.json'), { recordMode: 'once' })).install()
  await a.close()
  t.is(getGlobalDispatcher(), b.dispatcher)
  await b.close()
  t.is(getGlobalDispatcher(), original)
})

test.serial('await using closes and saves the DVD at the end of the block', async (t) => {
  const server = await startServer()
  const file = join(tempDir(), 'using.dvd.json')
  const before = getGlobalDispatcher()
  {
    await using dvd = (await DVDLoader.open(file, { recordMode: 'once' })).install()
    await (await fetch(`${server.origin}/json`)).text()
    t.true(dvd.dirty)
  }
  t.is(getGlobalDispatcher(), before)
  const reopened = await DVDLoader.open(file, { recordMode: 'none' })
  t.is(reopened.count, 1)
  await server.close()
})

test('explicit dispatchers need no global state: two DVDs run concurrently with their own recordings', async (t) => {
  const server = await startServer()
  const before = getGlobalDispatcher()
  const [a, b] = await Promise.all([
    DVDLoader.open(join(tempDir(), 'a.dvd.json'), { recordMode: 'once' }),
    DVDLoader.open(join(tempDir(), 'b.dvd.json'), { recordMode: 'once' }),
  ])
  await Promise.all([
    ...Array.from({ length: 5 }, (_, i) =>
      fetch(`${server.origin}/json?dvd=a&i=${i}`, {
        dispatcher: a.dispatcher,
      } as unknown as RequestInit).then((r) => r.text()),
    ),
    ...Array.from({ length: 3 }, (_, i) =>
      fetch(`${server.origin}/json?dvd=b&i=${i}`, {
        dispatcher: b.dispatcher,
      } as unknown as RequestInit).then((r) => r.text()),
    ),
  ])
  t.is(getGlobalDispatcher(), before)
  t.is(a.count, 5)
  t.is(b.count, 3)
  t.true([...a.dvd.recordings()].every((r) => r.request.url.includes('dvd=a')))
  await server.close()
})

test('a DVD dispatcher composes with undici interceptors: redirects are recorded hop by hop', async (t) => {
  const server = await startServer()
  const file = join(tempDir(), 'compose.dvd.json')
  const rec = await DVDLoader.open(file, { recordMode: 'once' })
  const composed = rec.dispatcher.compose(interceptors.redirect({ maxRedirections: 3 }))
  const live = await request(`${server.origin}/redirect`, { dispatcher: composed })
  const liveBody = await live.body.text()
  await rec.close()
  await server.close()
  t.is(rec.count, 3)
  const play = await DVDLoader.open(file, { recordMode: 'none' })
  const replayed = await request(`${server.origin}/redirect`, {
    dispatcher: play.dispatcher.compose(interceptors.redirect({ maxRedirections: 3 })),
  })
  t.is(replayed.statusCode, 200)
  t.is(await replayed.body.text(), liveBody)
  t.true(play.allPlayed)
})

test('dvd.fetch goes through the DVD without global state', async (t) => {
  const server = await startServer()
  const before = getGlobalDispatcher()
  const file = join(tempDir(), 'dvd-fetch.dvd.json')
  const rec = await DVDLoader.open(file, { recordMode: 'once' })
  t.is(await (await rec.fetch(`${server.origin}/counter`)).text(), 'call 1')
  await rec.close()
  await server.close()
  t.is(getGlobalDispatcher(), before)
  const play = await DVDLoader.open(file, { recordMode: 'none' })
  t.is(await (await play.fetch(new URL(`${server.origin}/counter`), { method: 'GET' })).text(), 'call 1')
})
