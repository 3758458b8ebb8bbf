/**
 * One writer per DVD file: a DVD that may save takes `<file>.lock` (created exclusively, holding
 * the pid, host and start time) when it is opened and gives it back when it is closed or the
 * process exits. A second writer gets a {@link DVDLockedError} instead of silently overwriting the
 * first one's recordings at save. A lock left by a killed process is taken over: on the same host
 * when its pid no longer runs, from another host (a shared folder) once it is a day old.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { DVDLockedError } from './errors.js'

/** Age after which a lock taken on another host, whose process cannot be checked, is stale. */
const FOREIGN_STALE_MS = 24 * 60 * 60 * 1000

/** Locks this process holds, removed if it exits without closing its DVDs. */
const held = new Set<string>()
process.on('exit', () => {
  for (const lock of held) {
    try {
      unlinkSync(lock)
    } catch {
      // Already gone.
    }
  }
})

interface Holder {
  pid: number
  host: string
  since: string
}

function readHolder(lock: string): Holder | undefined {
  try {
    const holder = JSON.parse(readFileSync(lock, 'utf8')) as Partial<Holder>
    if (typeof holder.pid === 'number' && typeof holder.host === 'string' && typeof holder.since === 'string')
      return holder as Holder
  } catch {
    // Unreadable, or being written this very moment: judged by its age below.
  }
  return undefined
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Whether the lock's holder is gone: its process ended (same host), or the lock is too old to trust. */
function stale(lock: string, holder: Holder | undefined): boolean {
  // This process knows its own locks: one it no longer holds (its removal failed) is stale.
  if (holder?.pid === process.pid && holder.host === hostname()) return !held.has(lock)
  if (holder && holder.host === hostname()) return !running(holder.pid)
  let age: number
  try {
    age = Date.now() - statSync(lock).mtimeMs
  } catch {
    return true
  }
  // A lock just created and not yet written is young: not stale.
  return holder ? age > FOREIGN_STALE_MS : age > 10_000
}

/** A taken lock: `release()` gives it back (idempotent). */
export interface DVDLock {
  release(): void
}

/** Takes the lock of the DVD `file`, or throws {@link DVDLockedError} naming its holder. */
export function lockDVD(file: string): DVDLock {
  const lock = `${file}.lock`
  const me: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString() }
  for (let attempt = 0; ; attempt++) {
    let fd: number
    try {
      fd = openSync(lock, 'wx')
    } catch (error) {
      // No folder yet, or one that cannot be written: there is nothing to overwrite, and the save
      // reports what is wrong with the path.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return { release() {} }
      const holder = readHolder(lock)
      if (attempt < 3 && stale(lock, holder)) {
        try {
          unlinkSync(lock)
        } catch {
          // Someone else took it over first; try again.
        }
        continue
      }
      throw new DVDLockedError(
        file,
        lock,
        holder ?? { pid: 0, host: 'an unknown host', since: 'an unknown time' },
      )
    }
    try {
      writeSync(fd, JSON.stringify(me))
    } finally {
      closeSync(fd)
    }
    held.add(lock)
    let released = false
    return {
      release() {
        if (released) return
        released = true
        held.delete(lock)
        // Only our own lock: one taken over after ours was judged stale is left alone.
        if (readHolder(lock)?.pid === me.pid && readHolder(lock)?.since === me.since) {
          try {
            unlinkSync(lock)
          } catch {
            // Already gone.
          }
        }
      },
    }
  }
}
