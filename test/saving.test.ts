import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { DVDLoader, DVDSaveError } from '../lib/index.js'
import { startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

test('DVDLoader.use saves nothing when the callback throws, and the old file stays as it was', async (t) => {
  const server = await startServer()
  const dir = tempDir()
  const file = join(dir, 'kept.dvd.json')
  writeFileSync(file, '[]\n')
  await t.throwsAsync(
    DVDLoader.use(file, { recordMode: 'all' }, async () => {
      await (await fetch(`${server.origin}/json`)).text()
      throw new Error('test failed')
    }),
    { message: 'test failed' },
  )
  t.is(readFileSync(file, 'utf8'), '[]\n')
  t.deepEqual(readdirSync(dir), ['kept.dvd.json'])
  await server.close()
})

test('a failing first run leaves no file behind', async (t) => {
  const server = await startServer()
  const file = join(tempDir(), 'never.dvd.json')
  await t.throwsAsync(
    DVDLoader.use(file, { recordMode: 'once' }, async () => {
      await (await fetch(`${server.origin}/json`)).text()
      throw new Error('boom')
    }),
  )
  t.false(existsSync(file))
  await server.close()
})

test('saving creates missing directories and leaves no temporary file', async (t) => {
  const server = await startServer()
  const dir = tempDir()
  const file = join(dir, 'nested', 'deeper', 'x.dvd.json')
  await DVDLoader.use(file, { recordMode: 'once' }, async () => (await fetch(`${server.origin}/json`)).text())
  t.true(existsSync(file))
  t.deepEqual(readdirSync(join(dir, 'nested', 'deeper')), ['x.dvd.json'])
  await server.close()
})

test('a save that cannot be written raises DVDSaveError and keeps the previous file', async (t) => {
  const server = await startServer()
  const dir = tempDir()
  const file = join(dir, 'blocked.dvd.json')
  const dvd = await DVDLoader.open(file, { recordMode: 'once' })
  await (
    await fetch(`${server.origin}/json`, { dispatcher: dvd.dispatcher } as unknown as RequestInit)
  ).text()
  mkdirSync(file) // a directory where the file should go: rename over it fails
  const error = await t.throwsAsync(dvd.close(), { instanceOf: DVDSaveError })
  t.is((error as DVDSaveError).code, 'DVD_ERR_SAVE')
  t.true(error?.message.includes(file))
  t.deepEqual(readdirSync(dir), ['blocked.dvd.json'])
  await server.close()
})

test('closing twice saves once', async (t) => {
  const server = await startServer()
  const file = join(tempDir(), 'twice.dvd.json')
  const dvd = await DVDLoader.open(file, { recordMode: 'once' })
  await (
    await fetch(`${server.origin}/json`, { dispatcher: dvd.dispatcher } as unknown as RequestInit)
  ).text()
  await dvd.close()
  writeFileSync(file, 'changed by someone else')
  await dvd.close()
  t.is(readFileSync(file, 'utf8'), 'changed by someone else')
  await server.close()
})
