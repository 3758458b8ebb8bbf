/**
 * `dvd-convert`: converts, inspects, verifies and reindexes DVD files. The bin script only calls
 * {@link run}, so tests drive the CLI directly. Exit codes: 0 success, 1 bad input (a file that
 * cannot be read or converted), 2 usage (unknown command, missing or bad arguments).
 */
import { readFile } from 'node:fs/promises'
import { formatFromName, readRecordings, requireFormat, writeRecordings } from './convert.js'
import type { RunReport } from './dvd.js'
import { DVDError, DVDFormatError, InvalidOptionError } from './errors.js'
import { encodeRecording, openBinaryStore, writeBinary } from './formats/binary.js'
import { importNock } from './formats/import/nock.js'
import { importPolly } from './formats/import/polly.js'
import { importUndiciSnapshot } from './formats/import/undici_snapshot.js'
import { importVcrpy } from './formats/import/vcrpy.js'
import type { DVDFormat } from './loader.js'
import { DEFAULT_MATCH_ON, type MatcherName, normalizeMatchOn, ParsedRequest } from './matchers.js'
import { headerValue, isRecordedError, type Recording } from './model.js'
import { asFormatError, binaryBackend } from './native.js'
import { count } from './plural.js'
import { DEFAULT_SECRET_HEADERS, parameterFilters } from './redact.js'
import { bodyRules, redactRecording } from './redact_body.js'
import { CREDENTIAL_SHAPES, scanRecording } from './secret_scan.js'

/** Where the CLI writes. */
export interface CliIO {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Whether stderr is a terminal (progress bars redraw in place only there). */
  isTTY?: boolean
}

class UsageError extends Error {}

interface Command {
  usage: string
  summary: string
  options: Record<string, 'flag' | 'value'>
  /** How many file arguments; -1: one or more. */
  positional: number
  run: (args: string[], flags: Map<string, string | true>, io: CliIO) => Promise<void>
}

/** Shows progress of long conversions: only after the first second, at most ten times a second. */
class Progress {
  readonly #io: CliIO
  readonly #label: string
  readonly #started = Date.now()
  #lastDraw = 0
  #drawn = false

  constructor(io: CliIO, label: string) {
    this.#io = io
    this.#label = label
  }

  update(done: number, total?: number, unit = 'records'): void {
    const now = Date.now()
    // Redraw in place ten times a second on a terminal; elsewhere (logs, CI) a line every 5 seconds.
    const every = this.#io.isTTY ? 100 : 5000
    if (now - this.#started < 1000 || now - this.#lastDraw < every) return
    this.#lastDraw = now
    const seconds = (now - this.#started) / 1000
    let line: string
    if (total && total > 0) {
      const ratio = Math.min(1, done / total)
      const width = 30
      const filled = Math.round(ratio * width)
      line = `${this.#label} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${(ratio * 100).toFixed(0)}% ${done.toLocaleString('en')}/${total.toLocaleString('en')} ${unit}`
    } else line = `${this.#label} ${done.toLocaleString('en')} ${unit}`
    line += ` (${seconds.toFixed(1)} s)`
    this.#io.stderr(this.#io.isTTY ? `\r${line}` : `${line}\n`)
    this.#drawn = true
  }

  done(): void {
    if (this.#drawn && this.#io.isTTY) this.#io.stderr('\n')
  }
}

function matchOnFlag(flags: Map<string, string | true>): MatcherName[] {
  const value = flags.get('match-on')
  if (value === undefined) return [...DEFAULT_MATCH_ON]
  if (value === true) throw new UsageError('--match-on needs a comma-separated list of matchers')
  try {
    return normalizeMatchOn(
      value.split(',').map((s) => s.trim()),
      '--match-on',
    )
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}

/** What each `import --from` name reads. */
const importers: Record<
  string,
  (file: string, onWarning: (message: string) => void) => Promise<Recording[]>
> = {
  nock: importNock,
  polly: importPolly,
  'undici-snapshot': importUndiciSnapshot,
  vcrpy: importVcrpy,
}

/** The format an output file's name asks for. */
function outputFormat(file: string): DVDFormat {
  const format = formatFromName(file)
  if (!format) {
    throw new UsageError(
      `cannot tell the format of ${file} from its name: end it in .har, .dvd.json or .dvd.lz4`,
    )
  }
  return format
}

const CONVERT_OPTIONS: Command['options'] = { 'match-on': 'value', pretty: 'flag', decode: 'flag' }

/** Reads every recording of `input`, whatever its format, and writes them to `output` in `format`. */
async function convert(
  input: string,
  output: string,
  format: DVDFormat,
  flags: Map<string, string | true>,
  io: CliIO,
  label: string,
): Promise<void> {
  const matchOn = matchOnFlag(flags)
  const progress = new Progress(io, label)
  const recordings = readRecordings(input, {
    onProgress: (done, total, unit) =>
      unit === 'bytes'
        ? progress.update(Math.round(done / 1e6), undefined, 'MB read')
        : progress.update(done, total),
    onWarning: (message) => io.stderr(`warning: ${message}\n`),
  })
  const written = await writeRecordings(output, format, recordings, {
    matchOn,
    pretty: flags.has('pretty'),
    decodeCompressed: flags.has('decode'),
  })
  progress.done()
  const index = format === 'binary' ? `, indexed on ${matchOn.join(',')}` : ''
  io.stdout(`${output}: ${count(written, 'recording')}${index}\n`)
}

/** A comma-separated list flag, split. */
function listFlag(flags: Map<string, string | true>, name: string): string[] {
  const value = flags.get(name)
  if (value === undefined) return []
  if (value === true) throw new UsageError(`--${name} needs a comma-separated list`)
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

/** The rules of `redact`, from its flags: the same as the recording options. */
function redactionRules(flags: Map<string, string | true>) {
  const text: (string | RegExp)[] = []
  const literal = flags.get('text')
  if (typeof literal === 'string') text.push(literal)
  const pattern = flags.get('pattern')
  if (typeof pattern === 'string') {
    try {
      text.push(new RegExp(pattern, 'g'))
    } catch (error) {
      throw new UsageError(`--pattern: ${(error as Error).message}`)
    }
  }
  if (flags.has('credentials')) text.push(...CREDENTIAL_SHAPES.map((shape) => shape.pattern))
  return {
    settings: {
      secretHeaders: new Set(DEFAULT_SECRET_HEADERS),
      filterQueryParameters: parameterFilters(listFlag(flags, 'query-params'))!,
      filterPostDataParameters: parameterFilters(listFlag(flags, 'post-params'))!,
    },
    body: bodyRules({ jsonFields: listFlag(flags, 'json-fields'), text }, '--json-fields/--text/--pattern'),
  }
}

const redactCommand: Command = {
  usage:
    'dvd-convert redact IN OUT [--json-fields a,b] [--text LITERAL] [--pattern REGEX] [--credentials] [--query-params a,b] [--post-params a,b] [--match-on LIST]',
  summary:
    'copy a DVD (any format in, the format OUT names out) with secrets replaced by [REDACTED]: credential headers, ' +
    'the named parameters, response-body JSON members at any depth, text, and with --credentials what scan finds',
  options: {
    'json-fields': 'value',
    text: 'value',
    pattern: 'value',
    credentials: 'flag',
    'query-params': 'value',
    'post-params': 'value',
    'match-on': 'value',
  },
  positional: 2,
  async run([input, output], flags, io) {
    const { settings, body } = redactionRules(flags)
    const format = outputFormat(output!)
    async function* redacted() {
      for await (const recording of readRecordings(input!, {
        onWarning: (m) => io.stderr(`warning: ${m}\n`),
      }))
        yield redactRecording(recording, settings, body)
    }
    const written = await writeRecordings(output!, format, redacted(), { matchOn: matchOnFlag(flags) })
    io.stdout(`${output}: ${count(written, 'recording')}, redacted\n`)
  },
}

const scanCommand: Command = {
  usage: 'dvd-convert scan FILE...',
  summary:
    'look for strings shaped like credentials (bearer tokens, AWS access keys, sk-/ghp_-style keys, private-key ' +
    'blocks); exit 1 naming each recording and place when one is found',
  options: {},
  positional: -1,
  async run(files, _flags, io) {
    let found = 0
    let recordings = 0
    for (const file of files) {
      let index = 0
      for await (const recording of readRecordings(file)) {
        for (const f of scanRecording(recording, index)) {
          io.stdout(`${file}: recording #${f.recording} (${f.request}) ${f.place}: ${f.kind} ${f.masked}\n`)
          found++
        }
        index++
      }
      recordings += index
    }
    if (found > 0) {
      throw new DVDError(
        'DVD_ERR_SECRETS',
        `${count(found, 'credential-shaped string')} in ${count(files.length, 'file')}; ` +
          'scrub them with dvd-convert redact (--credentials, --json-fields, --query-params…)',
      )
    }
    io.stdout(
      `no credential-shaped strings in ${count(recordings, 'recording')} of ${count(files.length, 'file')}\n`,
    )
  },
}

const commands: Record<string, Command> = {
  convert: {
    usage: 'dvd-convert convert IN OUT [--match-on method,scheme,host,port,path,query] [--pretty] [--decode]',
    summary:
      'convert between .har, .dvd.json and .dvd.lz4 (of any size, streamed): IN read by content, OUT written as its name says',
    options: CONVERT_OPTIONS,
    positional: 2,
    async run([input, output], flags, io) {
      await convert(input!, output!, outputFormat(output!), flags, io, 'convert')
    },
  },
  'json-to-bin': {
    usage: 'dvd-convert json-to-bin IN.dvd.json OUT.dvd.lz4 [--match-on method,scheme,host,port,path,query]',
    summary: 'the same as convert, always writing a binary DVD indexed for --match-on',
    options: { 'match-on': 'value' },
    positional: 2,
    run: ([input, output], flags, io) => convert(input!, output!, 'binary', flags, io, 'json-to-bin'),
  },
  'bin-to-json': {
    usage: 'dvd-convert bin-to-json IN.dvd.lz4 OUT.dvd.json [--pretty] [--decode]',
    summary:
      'the same as convert, always writing a Python-compatible JSON DVD (--decode: store compressed bodies decoded)',
    options: { pretty: 'flag', decode: 'flag' },
    positional: 2,
    run: ([input, output], flags, io) => convert(input!, output!, 'json', flags, io, 'bin-to-json'),
  },
  import: {
    usage: `dvd-convert import --from ${Object.keys(importers).join('|')} IN OUT [--match-on …]`,
    summary:
      'bring in a nock.back fixture, a Polly.js recording.har, an undici SnapshotAgent snapshot or a vcrpy cassette; OUT’s name picks the format',
    options: { from: 'value', 'match-on': 'value' },
    positional: 2,
    async run([input, output], flags, io) {
      const from = flags.get('from')
      const importer = typeof from === 'string' ? importers[from] : undefined
      if (!importer) throw new UsageError(`--from needs one of ${Object.keys(importers).join(', ')}`)
      const format = outputFormat(output!)
      const recordings = await importer(input!, (message) => io.stderr(`warning: ${message}\n`))
      const matchOn = matchOnFlag(flags)
      const written = await writeRecordings(output!, format, recordings, { matchOn })
      io.stdout(`${output}: ${count(written, 'recording')} imported from ${from}\n`)
    },
  },
  inspect: {
    usage: 'dvd-convert inspect FILE [--report RUN-REPORT.json]',
    summary:
      'counts, hosts, methods, status codes, sizes and index statistics of a DVD (--report: play state per recording)',
    options: { report: 'value' },
    positional: 1,
    async run([file], flags, io) {
      const format = await requireFormat(file!)
      const hosts = new Map<string, number>()
      const methods = new Map<string, number>()
      const statuses = new Map<string, number>()
      let total = 0
      let bodyBytes = 0
      let encoded = 0
      const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1)
      for await (const { request, outcome } of readRecordings(file!)) {
        total++
        bump(hosts, new URL(request.url).host)
        bump(methods, request.method)
        if (isRecordedError(outcome)) bump(statuses, `error ${outcome.code ?? outcome.name}`)
        else {
          bump(statuses, String(outcome.status))
          bodyBytes += outcome.body?.length ?? 0
          if (headerValue(outcome.headers, 'content-encoding')) encoded++
        }
      }
      const table = (map: Map<string, number>) =>
        [...map.entries()]
          .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
          .map(([k, v]) => `    ${k}: ${v}`)
          .join('\n')
      const lines = [
        `${file}`,
        `  format: ${format}`,
        `  recordings: ${total}`,
        `  response body bytes: ${bodyBytes} (${encoded} content-encoded)`,
        '  hosts:',
        table(hosts),
        '  methods:',
        table(methods),
        '  statuses:',
        table(statuses),
      ]
      if (format === 'binary') {
        const store = openBinaryStore(file!, DEFAULT_MATCH_ON, () => {})
        try {
          const s = store.reader.stats()
          lines.push(
            `  index: match_on ${store.reader.matchOn}, ${s.distinctKeys} distinct keys in ${s.hashCapacity} slots (load factor ${s.loadFactor.toFixed(3)})`,
            `  sizes: file ${s.fileBytes} bytes, records ${s.uncompressedRecordBytes} bytes compressed to ${s.compressedRecordBytes}, index ${s.indexFrameBytes}`,
            `  version: ${store.reader.versionMajor}.${store.reader.versionMinor}, reader: ${binaryBackend()}`,
          )
        } finally {
          store.close()
        }
      }
      const reportFile = flags.get('report')
      if (typeof reportFile === 'string') lines.push(...(await playState(reportFile, total)))
      io.stdout(`${lines.join('\n')}\n`)
    },
  },
  verify: {
    usage: 'dvd-convert verify FILE',
    summary: 'check every checksum and decode every recording',
    options: {},
    positional: 1,
    async run([file], _flags, io) {
      const format = await requireFormat(file!)
      let checked = 0
      if (format === 'binary') {
        const store = openBinaryStore(file!, DEFAULT_MATCH_ON, () => {})
        try {
          try {
            store.reader.verify()
          } catch (error) {
            throw asFormatError(file!, error)
          }
        } finally {
          store.close()
        }
      }
      const progress = new Progress(io, 'verify')
      for await (const recording of readRecordings(file!, {
        onProgress: (done, total) => progress.update(done, total),
      })) {
        new ParsedRequest(recording.request)
        encodeRecording(recording)
        checked++
      }
      progress.done()
      io.stdout(`${file}: OK, ${count(checked, 'recording')} (${format})\n`)
    },
  },
  reindex: {
    usage: 'dvd-convert reindex FILE.dvd.lz4 --match-on method,scheme,host,port,path,query',
    summary: 'rebuild the stored index of a binary DVD for another match_on set (in place, atomically)',
    options: { 'match-on': 'value' },
    positional: 1,
    async run([file], flags, io) {
      if (!flags.has('match-on')) throw new UsageError('reindex needs --match-on')
      const matchOn = matchOnFlag(flags)
      if ((await requireFormat(file!)) !== 'binary') throw new UsageError(`${file} is not a binary DVD`)
      const store = openBinaryStore(file!, DEFAULT_MATCH_ON, () => {})
      const progress = new Progress(io, 'reindex')
      let written: number
      try {
        const sources = function* () {
          for (let id = 0; id < store.count; id++) {
            yield { kind: 'raw' as const, record: store.rawRecord(id), matchFields: store.rawMatchFields(id) }
          }
        }
        written = writeBinary(file!, sources(), matchOn, (done) => progress.update(done, store.count))
      } finally {
        store.close()
      }
      progress.done()
      io.stdout(`${file}: ${count(written, 'recording')}, indexed on ${matchOn.join(',')}\n`)
    },
  },
  redact: redactCommand,
  scan: scanCommand,
}

/** The play state of each recording, from a run report written with `JSON.stringify(dvd.report())`. */
async function playState(reportFile: string, total: number): Promise<string[]> {
  let report: RunReport
  try {
    report = JSON.parse(await readFile(reportFile, 'utf8')) as RunReport
  } catch (cause) {
    throw new DVDError(
      'DVD_ERR_FORMAT',
      `${reportFile}: not a readable run report (${(cause as Error).message})`,
      { cause },
    )
  }
  if (!report || !Array.isArray(report.recordings)) {
    throw new DVDError('DVD_ERR_FORMAT', `${reportFile}: not a run report (no "recordings" list)`)
  }
  const played = report.recordings.filter((r) => r.played > 0).length
  const lines = [
    `  run report: ${reportFile} (mode ${report.mode})`,
    `    played ${played} of ${count(report.recordings.length, 'recording')}, ${report.recordings.length - played} never played`,
  ]
  if (report.recordings.length !== total) {
    lines.push(
      `    note: the report lists ${count(report.recordings.length, 'recording')}, the DVD holds ${total}`,
    )
  }
  for (const r of report.recordings) {
    lines.push(
      `    #${r.index} ${r.played > 0 ? `played ${r.played}×` : 'never played'}  ${r.method} ${r.url}`,
    )
  }
  return lines
}

function helpText(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length))
  return [
    'Usage: dvd-convert <command> [arguments]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run "dvd-convert <command> --help" for the arguments of a command.',
    'Exit codes: 0 success, 1 bad input, 2 usage.',
    '',
  ].join('\n')
}

function parseArgs(command: Command, argv: string[]): { args: string[]; flags: Map<string, string | true> } {
  const args: string[] = []
  const flags = new Map<string, string | true>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) {
      args.push(arg)
      continue
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined]
    const kind = command.options[name]
    if (!kind) throw new UsageError(`unknown option --${name}`)
    if (kind === 'flag') flags.set(name, true)
    else {
      const value = inline ?? argv[++i]
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`)
      flags.set(name, value)
    }
  }
  if (command.positional < 0 ? args.length === 0 : args.length !== command.positional) {
    throw new UsageError(`expected ${count(command.positional, 'file argument')}, got ${args.length}`)
  }
  return { args, flags }
}

/** Runs `dvd-convert` with `argv` (without the program name) and returns the exit code. */
export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    ;(name === undefined ? io.stderr : io.stdout)(helpText())
    return name === undefined ? 2 : 0
  }
  const command = commands[name]
  if (!command) {
    io.stderr(`dvd-convert: unknown command "${name}"\n\n${helpText()}`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`Usage: ${command.usage}\n\n${command.summary}\n`)
    return 0
  }
  try {
    const { args, flags } = parseArgs(command, [...rest])
    await command.run(args, flags, io)
    return 0
  } catch (error) {
    if (error instanceof UsageError || error instanceof InvalidOptionError) {
      io.stderr(`dvd-convert ${name}: ${error.message}\nUsage: ${command.usage}\n`)
      return 2
    }
    if (error instanceof DVDError) {
      // The library's advice to re-record does not fit a tool that only reads and converts files.
      const message = error instanceof DVDFormatError ? error.finding : error.message
      io.stderr(`dvd-convert ${name}: ${message}\n`)
      return 1
    }
    io.stderr(`dvd-convert ${name}: ${(error as Error).message ?? String(error)}\n`)
    return 1
  }
}
