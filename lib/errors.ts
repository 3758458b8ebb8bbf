/**
 * One exported class per failure a user can act on. Each has a stable `code` (`DVD_ERR_*`, shared
 * with the native addon), keeps the underlying error as `cause`, and says which file and what to do.
 */
import { constants as osConstants } from 'node:os'
import type { RecordMode } from './options.js'
import { count } from './plural.js'

/** The end of every dvd-rw error's message: where docs/TROUBLESHOOTING.md explains its code. */
const troubleshootingPointer = (code: string): string => `(see Troubleshooting: ${code})`

/**
 * Base class of every error dvd-rw raises itself. Its message ends with a pointer to the entry of
 * its code in the troubleshooting guide, `(see Troubleshooting: DVD_ERR_…)`.
 */
export class DVDError extends Error {
  /** Stable machine-readable code, e.g. `DVD_ERR_UNMATCHED`. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(`${message} ${troubleshootingPointer(code)}`, options)
    this.name = new.target.name
    this.code = code
  }
}

/** An option (or the `DVD_RECORD_MODE` variable) has a value dvd-rw cannot use. */
export class InvalidOptionError extends DVDError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DVD_ERR_OPTION', message, options)
  }
}

/** A DVD file is not what it should be: bad JSON, a wrong shape, a damaged binary file. */
export class DVDFormatError extends DVDError {
  /** The file that could not be read. */
  readonly file: string
  /** Where inside the file, e.g. `[12][1].status`; empty when the whole file is at fault. */
  readonly location: string
  /** What is wrong there. */
  readonly problem: string
  /** What the file is not (`not a readable DVD`, `not a binary DVD`). */
  readonly headline: string

  constructor(
    file: string,
    location: string,
    problem: string,
    options?: { cause?: unknown; code?: string; headline?: string },
  ) {
    const headline = options?.headline ?? 'not a readable DVD'
    const where = location ? ` at ${location}` : ''
    super(
      options?.code ?? 'DVD_ERR_FORMAT',
      `${file}: ${headline}${where}: ${problem}. The file was left as it is; fix or delete it to record it again.`,
      options,
    )
    this.file = file
    this.location = location
    this.problem = problem
    this.headline = headline
  }

  /** The message without the advice about recording, for tools that only check files. */
  get finding(): string {
    return `${this.file}: ${this.headline}${this.location ? ` at ${this.location}` : ''}: ${this.problem}.`
  }
}

/** Replay-only mode was asked for, but the DVD file does not exist. */
export class DVDNotFoundError extends DVDError {
  readonly file: string

  /** `fromCI`: the mode is `none` only because `CI` is set, so the hint says how to record outside CI. */
  constructor(file: string, mode: RecordMode, options?: { cause?: unknown; fromCI?: boolean }) {
    super(
      'DVD_ERR_NOT_FOUND',
      options?.fromCI
        ? `${file}: no such DVD. Under CI=true the record mode defaults to "none", which never records, ` +
            'so CI never reaches the network. Record it on your machine and commit it: run the tests ' +
            'once outside CI (CI= npm test) or with DVD_RECORD_MODE=once; or check the path.'
        : `${file}: no such DVD, and record mode "${mode}" never records. ` +
            'Record it first (run with DVD_RECORD_MODE=once) or check the path.',
      options,
    )
    this.file = file
  }
}

/** A recording closest to an unmatched request, and the matchers on which it differs. */
export interface NearMiss {
  /** Position of the recording in the DVD (0-based, recording order). */
  index: number
  /** `METHOD url` of the recorded request. */
  request: string
  /** Matchers whose values differ; empty when the recording matched but was already played. */
  differences: string[]
}

/** Details carried by an {@link UnmatchedRequestError}. */
export interface UnmatchedDetails {
  file: string
  mode: RecordMode
  /** `METHOD url` of the incoming request (after filters and hooks). */
  request: string
  matchOn: readonly string[]
  nearest: NearMiss[]
  /** How many recordings had the same key but were already played. */
  alreadyPlayed: number
  /** How many recordings were compared, and how many the DVD holds. */
  scanned: number
  total: number
}

function formatUnmatched(headline: string, d: UnmatchedDetails, advice: string): string {
  const lines = [
    `${headline}: ${d.request}`,
    `  DVD: ${d.file} (mode "${d.mode}", matching on ${d.matchOn.join(', ')})`,
  ]
  if (d.alreadyPlayed > 0) {
    lines.push(
      `  ${count(d.alreadyPlayed, 'recording')} with the same key ${d.alreadyPlayed === 1 ? 'was' : 'were'} already played; ` +
        'each recording plays once unless allowPlaybackRepeats is set.',
    )
  }
  const misses = d.nearest.filter((n) => n.differences.length > 0)
  if (misses.length > 0) {
    const partial = d.scanned < d.total ? ` (among the first ${d.scanned} of ${d.total})` : ''
    lines.push(`  Nearest recordings${partial}:`)
    for (const n of misses)
      lines.push(`    #${n.index} ${n.request} — differs in ${n.differences.join(', ')}`)
  } else if (d.alreadyPlayed === 0) {
    lines.push('  The DVD has no recording close to it.')
  }
  if (
    misses.some((n) => n.differences.length === 1 && n.differences[0] === 'port') &&
    isLoopback(d.request)
  ) {
    // Re-recording would not help: the next run's server gets yet another port.
    lines.push(
      '  Only the port differs, on a loopback host: a local test server listening on port 0 gets a new',
      '  port every run. Match without the port: matchOn: MATCH_ON_WITHOUT_PORT (exported by dvd-rw),',
      "  or ['method', 'scheme', 'host', 'path', 'query'].",
    )
  } else lines.push(`  ${advice}`)
  return lines.join('\n')
}

/** Whether the request (`METHOD url`) goes to this machine: localhost, 127.0.0.0/8 or ::1. */
function isLoopback(request: string): boolean {
  try {
    const host = new URL(request.slice(request.indexOf(' ') + 1)).hostname
    return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
  } catch {
    return false
  }
}

/** A request reached a replaying DVD and no unplayed recording matches it. */
export class UnmatchedRequestError extends DVDError {
  readonly file: string
  readonly request: string
  readonly mode: RecordMode
  readonly nearest: NearMiss[]

  constructor(
    details: UnmatchedDetails,
    code = 'DVD_ERR_UNMATCHED',
    headline = 'dvd-rw: no recording matches',
  ) {
    super(
      code,
      formatUnmatched(
        headline,
        details,
        'To record it, run with DVD_RECORD_MODE=new_episodes, or delete the DVD to record it again.',
      ),
    )
    this.file = details.file
    this.request = details.request
    this.mode = details.mode
    this.nearest = details.nearest
  }
}

/**
 * Mode `once` (Python dvd-rw's only behaviour): the DVD was loaded from a file, so it replays only,
 * and this request has no recording. Subclass of {@link UnmatchedRequestError}.
 */
export class CannotRecordError extends UnmatchedRequestError {
  constructor(details: UnmatchedDetails) {
    super(details, 'DVD_ERR_CANNOT_RECORD', 'dvd-rw: cannot record, the DVD was loaded from its file')
  }
}

/** What to do about an operating-system error met while writing, by its `code`. */
function saveAdvice(osCode: string | undefined): string {
  switch (osCode) {
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return 'Make the folder writable, or save the DVD somewhere else.'
    case 'ENOSPC':
    case 'EDQUOT':
      return 'Free some disk space, then run again.'
    case 'ENOTDIR':
    case 'EEXIST':
      return 'A part of the path is a file, not a folder: choose another path.'
    case 'EISDIR':
      return 'The path is a folder: give the DVD a file name.'
    case 'ENAMETOOLONG':
      return 'Choose a shorter path.'
    default:
      return 'Check the path and the disk, then run again.'
  }
}

/** The `code` of an operating-system error (`ENOENT`, …), also from the addon's "(os error N)". */
export function osErrorCode(cause: unknown): string | undefined {
  const code = (cause as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code
  const errno = /\(os error (\d+)\)/.exec(cause instanceof Error ? cause.message : String(cause))?.[1]
  if (errno === undefined) return undefined
  const names = osConstants.errno as Record<string, number>
  return Object.keys(names).find((name) => names[name] === Number(errno))
}

/**
 * Writing a file failed (a DVD, or a CLI output). The previous file, if any, is untouched and no
 * temporary file is left. `osCode` is the operating system's error code (`EACCES`, `ENOSPC`, …).
 */
export class DVDSaveError extends DVDError {
  readonly file: string
  /** The operating-system error code, when the failure came from the system. */
  readonly osCode: string | undefined

  /** `step` says what was being done (`cannot create the folder …`); the cause says why. */
  constructor(file: string, cause: unknown, step = 'cannot write it') {
    const osCode = osErrorCode(cause)
    const reason = (cause instanceof Error ? cause.message : String(cause))
      .replace(/^DVD_ERR_[A-Z_]+:\s*/, '')
      .replace(/ \(see Troubleshooting: DVD_ERR_[A-Z_]+\)$/, '')
    super(
      'DVD_ERR_SAVE',
      `${file}: could not save the DVD: ${step} (${reason}). ${saveAdvice(osCode)} ` +
        'Any previous file at this path is untouched.',
      { cause },
    )
    this.file = file
    this.osCode = osCode
  }
}

/**
 * A `node:http` request could not go to the network while intercepted: its agent opens
 * connections in a way the interception cannot take over (proxy agents built on `agent-base`,
 * such as `https-proxy-agent`). Replaying such requests works; recording them does not.
 */
export class UnsupportedAgentError extends DVDError {
  /** `METHOD url` of the request. */
  readonly request: string

  constructor(request: string, agent: string, cause: unknown) {
    super(
      'DVD_ERR_AGENT',
      `dvd-rw: ${request}: its agent (${agent}) cannot reach the network while node:http is ` +
        'intercepted (the interception opens connections through the agent, which this agent does ' +
        "not allow). Record this request without the agent, or install the DVD with intercept: ['fetch'] " +
        'around this code.',
      { cause },
    )
    this.request = request
  }
}

/**
 * Under `CI=true`, while a test-runner helper is in use, a request was made outside any test (at
 * module scope, in a global setup, from a timer a finished test left running): no test's DVD can
 * answer it, and CI never reaches the network.
 */
export class RequestOutsideTestError extends DVDError {
  /** `METHOD url` of the request. */
  readonly request: string

  constructor(request: string) {
    super(
      'DVD_ERR_OUTSIDE_TEST',
      `dvd-rw: ${request} was made outside any test while a dvd-rw test helper is in use, and under ` +
        'CI=true no request reaches the network. Make it inside a test (move it from module scope or ' +
        'a global setup into the test or a beforeEach hook), or give that code a DVD of its own ' +
        '(DVDLoader.use).',
    )
    this.request = request
  }
}

/**
 * Another process (or another open DVD of this process) is recording into the same DVD file. Two
 * writers would each save only their own recordings, the last save silently dropping the other's,
 * so the second is refused. The lock file beside the DVD names the holder; a lock whose process is
 * gone is taken over.
 */
export class DVDLockedError extends DVDError {
  readonly file: string
  /** The lock file, `<file>.lock`. */
  readonly lockFile: string
  /** The process holding the lock, as its lock file names it. */
  readonly holder: { pid: number; host: string; since: string }

  constructor(file: string, lockFile: string, holder: { pid: number; host: string; since: string }) {
    super(
      'DVD_ERR_LOCKED',
      `${file}: process ${holder.pid} on ${holder.host} has been recording into this DVD since ${holder.since} ` +
        "(two writers would lose each other's recordings). Record into it from one process at a time, give " +
        `each process its own DVD, or only replay it (DVD_RECORD_MODE=none). If that process is gone, delete ${lockFile}.`,
    )
    this.file = file
    this.lockFile = lockFile
    this.holder = holder
  }
}
