/**
 * Two writers of one DVD: while a process records into a DVD, a second one (another process, or
 * another open DVD of the same process) is refused with DVDLockedError, so that neither save drops
 * the other's recordings; a lock left by a killed process is taken over.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { DVDLoader, DVDLockedError } from '../lib/index.js'
import { startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'helpers', 'record_child.js')

/** A process recording `url` into `file`, and the first line it printed. */
async function recorder(
  file: string,
  url: string,
): Promise<{ child: ChildProcessWithoutNullStreams; said: string }> {
  const child = spawn(process.execPath, [CHILD, file, url])
  let out = ''
  child.stdout.setEncoding('utf8')
  while (!out.includes('\n')) {
    const [chunk] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit')])) as [unknown]
    if (typeof chunk !== 'string') break
    out += chunk
  }
  return { child, said: out.split('\n')[0]! }
}

async function saveAndExit(child: ChildProcessWithoutNullStreams): Promise<string> {
  let out = ''
  child.stdout.on('data', (chunk: string) => (out += chunk))
  const exited = once(child, 'exit')
  child.stdin.write('\n')
  await exited
  return out.trim()
}

for (const ext of ['dvd.json', 'dvd.lz4']) {
  test(`${ext}: while one process records into a DVD, a second process and a second open DVD are refused with DVDLockedError`, async (t) => {
    const server = await startServer()
    const dir = tempDir()
    const file = join(dir, `shared.${ext}`)
    const first = await recorder(file, `${server.origin}/json`)
    t.is(first.said, 'recorded')
    t.true(existsSync(`${file}.lock`))

    const second = await recorder(file, `${server.origin}/counter`)
    t.is(second.said, 'error DVD_ERR_LOCKED')
    const error = await t.throwsAsync(DVDLoader.open(file, { recordMode: 'new_episodes' }), {
      instanceOf: DVDLockedError,
    })
    t.is(error?.code, 'DVD_ERR_LOCKED')
    t.is(error?.holder.pid, first.child.pid!)
    t.regex(
      error!.message,
      /shared\.dvd\.(json|lz4): process \d+ on .* has been recording into this DVD since /,
    )
    t.regex(error!.message, /If that process is gone, delete .*shared\.dvd\.(json|lz4)\.lock\./)

    t.is(await saveAndExit(first.child), 'saved')
    t.deepEqual(readdirSync(dir), [`shared.${ext}`])
    // Now the second one may record, and both recordings are in the file.
    const again = await recorder(file, `${server.origin}/counter`)
    t.is(again.said, 'recorded')
    // Replaying needs no lock, even while another process records.
    const replay = await DVDLoader.open(file, { recordMode: 'none' })
    t.is(replay.count, 1)
    await replay.close()
    t.is(await saveAndExit(again.child), 'saved')
    const saved = await DVDLoader.open(file, { recordMode: 'none' })
    t.deepEqual(
      saved.report().recordings.map((r) => new URL(r.url).pathname),
      ['/json', '/counter'],
    )
    await saved.close({ save: false })
    await server.close()
  })
}

test('a lock left by a killed process does not block the next writer', async (t) => {
  const server = await startServer()
  const dir = tempDir()
  const file = join(dir, 'orphan.dvd.json')
  const killed = await recorder(file, `${server.origin}/json`)
  t.is(killed.said, 'recorded')
  const exited = once(killed.child, 'exit')
  killed.child.kill('SIGKILL')
  await exited
  t.true(existsSync(`${file}.lock`), 'a killed process leaves its lock')

  const dvd = await DVDLoader.open(file, { recordMode: 'new_episodes' })
  await (await dvd.fetch(`${server.origin}/counter`)).text()
  await dvd.close()
  await server.close()
  // The killed process's own temporary file (its recordings, written as they completed) stays:
  // only its lock is taken over.
  t.false(existsSync(`${file}.lock`))
  t.deepEqual(
    readdirSync(dir).filter((name) => !name.endsWith('.tmp')),
    ['orphan.dvd.json'],
  )
})
