import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { DVDLoader } from '../lib/index.js'
import { largeBody, startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

const library = fileURLToPath(new URL('../lib/index.js', import.meta.url))

/** Files in `dir` other than `name` and its writer lock: the temporary file a DVD is recorded into. */
function others(dir: string, name: string): string[] {
  return readdirSync(dir).filter((f) => f !== name && f !== `${name}.lock`)
}

for (const ext of ['dvd.lz4', 'dvd.json']) {
  test.serial(
    `${ext}: recordings reach the temporary file while recording, and a process killed then leaves the previous file intact`,
    async (t) => {
      const server = await startServer()
      const dir = tempDir()
      const file = join(dir, `killed.${ext}`)
      await DVDLoader.use(file, { recordMode: 'once' }, async () =>
        (await fetch(`${server.origin}/json`)).text(),
      )
      const before = readFileSync(file)
      // Two responses of 8 MiB, recorded in mode `all` by a process that is then killed before close.
      const script = `
      const { DVDLoader } = await import(${JSON.stringify(library)})
      const dvd = await DVDLoader.open(${JSON.stringify(file)}, { recordMode: 'all' })
      for (let i = 0; i < 2; i++) await (await dvd.fetch(${JSON.stringify(`${server.origin}/large`)})).arrayBuffer()
      process.stdout.write('recorded\\n')
      setInterval(() => {}, 1000)
    `
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      let out = ''
      for await (const chunk of child.stdout) {
        out += chunk
        if (out.includes('recorded')) break
      }
      t.is(out.trim(), 'recorded')
      // The writer's threads put the first recording on disk without waiting for close (bounded wait).
      let onDisk = 0
      for (let i = 0; i < 200 && onDisk < 8 << 20; i++) {
        const temp = others(dir, `killed.${ext}`)
        onDisk = temp.length === 1 ? statSync(join(dir, temp[0]!)).size : 0
        if (onDisk < 8 << 20) await sleep(50)
      }
      child.kill('SIGKILL')
      await once(child, 'exit')
      t.true(onDisk >= 8 << 20, `${onDisk} bytes in the temporary file`)
      t.deepEqual(readFileSync(file), before)
      await server.close()
    },
  )

  test.serial(
    `${ext}, new_episodes: a recording made in the session replays from disk with allowPlaybackRepeats`,
    async (t) => {
      const server = await startServer()
      const file = join(tempDir(), `repeats.${ext}`)
      const dvd = await DVDLoader.open(file, { recordMode: 'new_episodes', allowPlaybackRepeats: true })
      const first = await (await dvd.fetch(`${server.origin}/counter`)).text()
      // Enough after it that it is written out, not only batched.
      await (await dvd.fetch(`${server.origin}/large`)).arrayBuffer()
      t.is(await (await dvd.fetch(`${server.origin}/counter`)).text(), first)
      t.true(Buffer.from(await (await dvd.fetch(`${server.origin}/large`)).arrayBuffer()).equals(largeBody()))
      t.is(server.hits(), 2)
      await dvd.close()
      t.deepEqual(
        dvd.report().recordings.map((r) => [r.url.replace(server.origin, ''), r.played]),
        [
          ['/counter', 2],
          ['/large', 2],
        ],
      )
      await server.close()
    },
  )

  test.serial(
    `${ext}, new_episodes: without repeats, a request made again is recorded again, after the file’s own recordings`,
    async (t) => {
      const server = await startServer()
      const file = join(tempDir(), `episodes.${ext}`)
      await DVDLoader.use(file, { recordMode: 'once' }, async () =>
        (await fetch(`${server.origin}/json`)).text(),
      )
      await DVDLoader.use(file, { recordMode: 'new_episodes' }, async () => {
        for (let i = 0; i < 2; i++) await (await fetch(`${server.origin}/counter`)).text()
        await (await fetch(`${server.origin}/json`)).text()
      })
      t.is(server.hits(), 3)
      await server.close()
      const replay = await DVDLoader.open(file, { recordMode: 'none' })
      t.deepEqual(
        replay.dvd.report().recordings.map((r) => r.url.replace(server.origin, '')),
        ['/json', '/counter', '/counter'],
      )
      t.is(await (await replay.fetch(`${server.origin}/counter`)).text(), 'call 1')
      t.is(await (await replay.fetch(`${server.origin}/counter`)).text(), 'call 2')
      t.is(await (await replay.fetch(`${server.origin}/json`)).status, 200)
      await replay.close()
    },
  )

  test.serial(
    `${ext}: closing without saving deletes the temporary file and keeps the previous file`,
    async (t) => {
      const server = await startServer()
      const dir = tempDir()
      const file = join(dir, `discarded.${ext}`)
      await DVDLoader.use(file, { recordMode: 'once' }, async () =>
        (await fetch(`${server.origin}/json`)).text(),
      )
      const before = readFileSync(file)
      const dvd = await DVDLoader.open(file, { recordMode: 'all' })
      await (await dvd.fetch(`${server.origin}/counter`)).text()
      t.is(others(dir, `discarded.${ext}`).length, 1)
      await dvd.close({ save: false })
      t.deepEqual(readdirSync(dir), [`discarded.${ext}`])
      t.deepEqual(readFileSync(file), before)
      await server.close()
    },
  )

  test.serial(
    `${ext}, new_episodes with dropUnused: the unplayed recordings of the file are pruned, the new ones kept`,
    async (t) => {
      const server = await startServer()
      const dir = tempDir()
      const file = join(dir, `pruned.${ext}`)
      await DVDLoader.use(file, { recordMode: 'once' }, async () => {
        await (await fetch(`${server.origin}/json`)).text()
        await (await fetch(`${server.origin}/bin`)).arrayBuffer()
      })
      await DVDLoader.use(file, { recordMode: 'new_episodes', dropUnused: true }, async () => {
        await (await fetch(`${server.origin}/json`)).text()
        await (await fetch(`${server.origin}/counter`)).text()
      })
      t.deepEqual(readdirSync(dir), [`pruned.${ext}`])
      const replay = await DVDLoader.open(file, { recordMode: 'none' })
      t.deepEqual(
        replay.dvd.report().recordings.map((r) => r.url.replace(server.origin, '')),
        ['/json', '/counter'],
      )
      await replay.close()
      await server.close()
    },
  )
}
