/** When and how a DVD is saved (atomically, never half-written), against every storage. */
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { TestFn } from 'ava'
import { DVDLoader, DVDSaveError } from '../../lib/index.js'
import { startServer } from '../helpers/server.js'
import { tempDir } from '../helpers/tmp.js'
import { extOf, type Format } from './format.js'

export function savingSuite(test: TestFn, format: Format): void {
  const ext = extOf(format)

  test('DVDLoader.use saves nothing when the callback throws, and the old file stays as it was', async (t) => {
    const server = await startServer()
    const dir = tempDir()
    const file = join(dir, `kept.${ext}`)
    writeFileSync(file, '[]\n')
    await t.throwsAsync(
      DVDLoader.use(file, { recordMode: 'all' }, async () => {
        await (await fetch(`${server.origin}/json`)).text()
        throw new Error('test failed')
      }),
      { message: 'test failed' },
    )
    t.is(readFileSync(file, 'utf8'), '[]\n')
    t.deepEqual(readdirSync(dir), [`kept.${ext}`])
    await server.close()
  })

  test('a failing first run leaves no file behind', async (t) => {
    const server = await startServer()
    const file = join(tempDir(), `never.${ext}`)
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
    const file = join(dir, 'nested', 'deeper', `x.${ext}`)
    await DVDLoader.use(file, { recordMode: 'once' }, async () =>
      (await fetch(`${server.origin}/json`)).text(),
    )
    t.true(existsSync(file))
    t.deepEqual(readdirSync(join(dir, 'nested', 'deeper')), [`x.${ext}`])
    await server.close()
  })

  test('a save that cannot be written raises DVDSaveError and keeps the previous file', async (t) => {
    const server = await startServer()
    const dir = tempDir()
    const file = join(dir, `blocked.${ext}`)
    const dvd = await DVDLoader.open(file, { recordMode: 'once' })
    await (
      await fetch(`${server.origin}/json`, { dispatcher: dvd.dispatcher } as unknown as RequestInit)
    ).text()
    mkdirSync(file) // a directory where the file should go: rename over it fails
    const error = await t.throwsAsync(dvd.close(), { instanceOf: DVDSaveError })
    t.is((error as DVDSaveError).code, 'DVD_ERR_SAVE')
    t.true(error?.message.includes(file))
    t.deepEqual(readdirSync(dir), [`blocked.${ext}`])
    await server.close()
  })

  test('closing twice saves once', async (t) => {
    const server = await startServer()
    const file = join(tempDir(), `twice.${ext}`)
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

  /**
   * Makes `dir` refuse new files, even to root (`chattr +i` there, as permission bits do not stop
   * root), and returns the undo; `undefined` when this machine offers no way to do it.
   */
  function makeReadOnly(dir: string): (() => void) | undefined {
    if (process.getuid?.() !== 0) {
      chmodSync(dir, 0o555)
      return () => chmodSync(dir, 0o755)
    }
    const set = spawnSync('chattr', ['+i', dir], { encoding: 'utf8' })
    if (set.status !== 0) return undefined
    return () => {
      spawnSync('chattr', ['-i', dir])
    }
  }

  const probe = tempDir()
  const canMakeReadOnly = makeReadOnly(probe)
  canMakeReadOnly?.()
  if (!canMakeReadOnly)
    console.log('read-only folder tests skipped: neither chmod nor chattr can protect a folder here')
  const readOnlyTest = canMakeReadOnly ? test : test.skip

  test('a DVD recorded into folders that do not exist yet is saved there', async (t) => {
    const server = await startServer()
    const dir = tempDir()
    const file = join(dir, 'out', 'new', `x.${ext}`)
    await DVDLoader.use(file, { recordMode: 'once' }, async () =>
      (await fetch(`${server.origin}/json`)).text(),
    )
    await server.close()
    t.deepEqual(readdirSync(join(dir, 'out', 'new')), [`x.${ext}`])
    // DVDLoader.use with the options left out: the file exists, so it replays in every mode.
    const status = await DVDLoader.use(file, async (dvd) => {
      t.is(dvd.count, 1)
      return (await fetch(`${server.origin}/json`)).status
    })
    t.is(status, 200)
  })

  readOnlyTest(
    'a save onto a read-only folder raises DVDSaveError, keeps the previous file and leaves no temporary file',
    async (t) => {
      const server = await startServer()
      const dir = tempDir()
      const file = join(dir, `kept.${ext}`)
      await DVDLoader.use(file, { recordMode: 'once' }, async () =>
        (await fetch(`${server.origin}/json`)).text(),
      )
      const before = readFileSync(file)
      // Read-only before opening: the writer lock is taken at open, and a binary DVD's temporary file
      // is made at the first recording. The request is still answered; the save fails at close.
      const undo = makeReadOnly(dir)!
      let error: DVDSaveError | undefined
      try {
        const dvd = await DVDLoader.open(file, { recordMode: 'all' })
        t.is((await dvd.fetch(`${server.origin}/counter`)).status, 200)
        error = await t.throwsAsync(dvd.close(), { instanceOf: DVDSaveError })
      } finally {
        undo()
      }
      t.is(error?.code, 'DVD_ERR_SAVE')
      t.is(error?.file, file)
      t.regex(error!.message, /^.*kept\.dvd\.(json|lz4): could not save the DVD: cannot create/)
      t.regex(error!.message, /\((EACCES|EPERM)\b|Permission denied|Operation not permitted/)
      t.regex(error!.message, /Make the folder writable, or save the DVD somewhere else\./)
      t.regex(error!.message, /previous file at this path is untouched/)
      t.deepEqual(readFileSync(file), before)
      t.deepEqual(readdirSync(dir), [`kept.${ext}`])
      await server.close()
    },
  )

  test('a path through a file instead of a folder raises DVDSaveError saying so', async (t) => {
    const server = await startServer()
    const dir = tempDir()
    writeFileSync(join(dir, 'plain'), 'not a folder')
    const file = join(dir, 'plain', `x.${ext}`)
    const dvd = await DVDLoader.open(file, { recordMode: 'once' })
    await dvd.fetch(`${server.origin}/json`)
    const error = await t.throwsAsync(dvd.close(), { instanceOf: DVDSaveError })
    // Linux says EEXIST (the file exists where the folder should be), other systems ENOTDIR.
    t.true(['EEXIST', 'ENOTDIR'].includes(error?.osCode ?? ''), error?.osCode)
    t.regex(
      error!.message,
      /cannot create the folder .*plain \(.*\)\. A part of the path is a file, not a folder/,
    )
    t.deepEqual(readdirSync(dir), ['plain'])
    await server.close()
  })

  // A full disk: a small tmpfs mounted for the test (root only) runs out of space while the DVD is
  // written.

  /** Mounts a 64 KiB tmpfs at a fresh folder; returns it, or why that is not possible here. */
  function smallDisk(): string | { skip: string } {
    if (process.getuid?.() !== 0) return { skip: 'not running as root, so no tmpfs can be mounted' }
    const dir = join(tempDir(), 'disk')
    mkdirSync(dir)
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { encoding: 'utf8' })
    if (mount.status !== 0)
      return { skip: `mount -t tmpfs failed: ${(mount.stderr || mount.error?.message || '').trim()}` }
    return dir
  }

  /**
   * Unmounts `dir`. Lazily: a binary DVD stays mapped after close until it is garbage-collected,
   * which keeps the file system busy; it goes away with the last mapping.
   */
  function unmount(dir: string): void {
    spawnSync('umount', ['-l', dir])
  }

  const diskProbe = smallDisk()
  if (typeof diskProbe === 'string') unmount(diskProbe)
  else console.log(`full-disk tests skipped: ${diskProbe.skip}`)
  const diskTest = typeof diskProbe === 'string' ? test : test.skip

  diskTest(
    `a save onto a full disk raises DVDSaveError ENOSPC, keeps the previous file and leaves no temporary file`,
    async (t) => {
      const server = await startServer()
      const disk = smallDisk() as string
      try {
        const file = join(disk, `full.${ext}`)
        await DVDLoader.use(file, { recordMode: 'once' }, async () =>
          (await fetch(`${server.origin}/json`)).text(),
        )
        const before = readFileSync(file)

        // 8 MB of incompressible bytes cannot fit in 64 KiB, in either format.
        const dvd = await DVDLoader.open(file, { recordMode: 'all' })
        t.is((await (await dvd.fetch(`${server.origin}/large`)).arrayBuffer()).byteLength, 8 << 20)
        const error = await t.throwsAsync(dvd.close(), { instanceOf: DVDSaveError })
        t.is(error?.code, 'DVD_ERR_SAVE')
        t.is(error?.osCode, 'ENOSPC')
        t.is(error?.file, file)
        t.regex(error!.message, /Free some disk space, then run again\./)
        t.deepEqual(readFileSync(file), before)
        t.deepEqual(readdirSync(disk), [basename(file)])

        // The process goes on: the old DVD replays, and a small save onto the same disk works.
        const replay = await DVDLoader.open(file, { recordMode: 'none' })
        t.is((await replay.fetch(`${server.origin}/json`)).status, 200)
        await replay.close()
        const again = await DVDLoader.open(file, { recordMode: 'new_episodes' })
        await (await again.fetch(`${server.origin}/counter`)).text()
        await again.close()
        const saved = await DVDLoader.open(file, { recordMode: 'none' })
        t.is(saved.count, 2)
        await saved.close()
        t.deepEqual(readdirSync(disk), [basename(file)])
      } finally {
        unmount(disk)
        await server.close()
      }
    },
  )
}
