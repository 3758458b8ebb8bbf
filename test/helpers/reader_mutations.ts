/**
 * Seeded mutations of valid DVD text files, and the readers they are thrown at. Every mutant must
 * either read (the mutation happened to keep the file valid) or fail with a DVDFormatError naming
 * the file and the place; any other exception, a hang or a crash is a finding.
 *
 * The mutations are those of any JSON document, so another JSON-based reader (HAR) is put under
 * the same treatment by adding an entry to {@link READERS}: its name, file extension, valid seed
 * texts and the function that reads a file to the end.
 */
import { writeFileSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { DVDFormatError } from '../../lib/errors.js'
import { serializeHar } from '../../lib/formats/har.js'
import { readHarFile } from '../../lib/formats/har_stream.js'
import { parseJson, serializeJson } from '../../lib/formats/json.js'
import { readJsonStream } from '../../lib/formats/json_stream.js'
import type { Recording } from '../../lib/model.js'
import { prng } from './prng.js'

type Rng = ReturnType<typeof prng>
type Json = unknown

/** A reader under test: how to read a whole file of its format, and valid files to mutate. */
export interface ReaderUnderTest {
  name: string
  /** File extension of its files, e.g. `.dvd.json`. */
  extension: string
  /** Valid files of the format, as text. */
  seeds: () => string[]
  /** Reads the file to its end (every recording), rejecting on any problem. */
  read: (file: string) => Promise<unknown>
}

const text = (s: string) => new Uint8Array(Buffer.from(s))

/** Valid recordings of every shape the JSON reader distinguishes. */
export function sampleRecordings(): Recording[] {
  return [
    {
      request: {
        method: 'GET',
        url: 'https://api.example.com/items?page=1',
        headers: [['accept', 'application/json']],
      },
      outcome: {
        status: 200,
        headers: [['content-type', 'application/json']],
        body: text('{"items":[1,2,3]}'),
      },
    },
    {
      request: { method: 'POST', url: 'http://127.0.0.1:8080/form', headers: [], body: text('a=1&b=2') },
      outcome: { status: 201, statusText: 'Created', headers: [['location', '/form/1']], body: null },
    },
    {
      request: { method: 'GET', url: 'https://api.example.com/é?q=ü', headers: [] },
      outcome: { status: 200, headers: [['content-encoding', 'identity']], body: text('ünïcödé') },
    },
    {
      request: { method: 'GET', url: 'http://127.0.0.1:9/down', headers: [] },
      outcome: {
        errorClass: 'Error',
        name: 'Error',
        message: 'connect ECONNREFUSED 127.0.0.1:9',
        code: 'ECONNREFUSED',
        details: { errno: -111, syscall: 'connect' },
        elapsedMs: 3,
        partial: { status: 200, headers: [], body: text('par') },
      },
    },
  ]
}

function jsonSeeds(): string[] {
  const recordings = sampleRecordings()
  return [
    [...serializeJson(recordings)].join(''),
    [...serializeJson(recordings.slice(0, 2), { pretty: true })].join(''),
    [...serializeJson([])].join(''),
  ]
}

/** The JSON DVD readers: the whole-file one the loader uses and the streaming one of the CLI. */
export const READERS: ReaderUnderTest[] = [
  {
    name: 'json',
    extension: '.dvd.json',
    seeds: jsonSeeds,
    read: async (file) => parseJson(await readFile(file, 'utf8'), file),
  },
  {
    name: 'json-stream',
    extension: '.dvd.json',
    seeds: jsonSeeds,
    read: async (file) => {
      const all = []
      for await (const recording of readJsonStream(file)) all.push(recording)
      return all
    },
  },
]

/**
 * The HAR reader (the loader and the CLI both read HAR files through the streaming reader), put
 * under the same mutations with `node scripts/mutate-readers.mjs COUNT SEED --har`. Not yet in
 * {@link READERS}: a syntax error outside the entries (in the `{"log": …}` around them) names no
 * place yet.
 */
export const HAR_READER: ReaderUnderTest = {
  name: 'har',
  extension: '.har',
  seeds: () => {
    const recordings = sampleRecordings()
    return [[...serializeHar(recordings)].join(''), [...serializeHar([])].join('')]
  },
  read: (file) => readHarFile(file),
}

// ---------------------------------------------------------------- mutations

/** Every container and scalar of a parsed document, with a way to replace it. */
interface Slot {
  value: Json
  key: string | number
  set: (value: Json) => void
}

function slots(root: Json): Slot[] {
  const out: Slot[] = []
  const stack: Json[] = [root]
  while (stack.length > 0) {
    const node = stack.pop()
    if (node === null || typeof node !== 'object') continue
    const o = node as Record<string, Json>
    for (const key of Object.keys(o)) {
      out.push({ value: o[key], key: Array.isArray(node) ? Number(key) : key, set: (v) => (o[key] = v) })
      stack.push(o[key])
    }
  }
  return out
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)]!

const HUGE_NUMBERS = [
  '1e999',
  '-1e999',
  '9007199254740993',
  '1e-400',
  '-0',
  `1${'0'.repeat(400)}`,
  '0.5',
  '-1',
]

function otherValue(rng: Rng, value: Json): Json {
  const choices: Json[] = [null, true, 0, -1, 1.5, '', 'x', [], {}, [null], { a: 1 }, '\u0000\ud800']
  const others = choices.filter((c) => typeof c !== typeof value || Array.isArray(c) !== Array.isArray(value))
  return pick(rng, others)
}

function badBase64(rng: Rng): string {
  return pick(rng, [
    'b64_byte__@@@@',
    'b64_byte__QQ',
    'b64_byte__QQ==QUFB',
    'b64_byte__a-_a',
    'b64_byte__ QUFB',
    'b64_byte__QUF\nB',
    'b64_byte__====',
    'QUFB',
    'b64_byte_',
    `b64_byte__${'QUFB'.repeat(rng.int(50))}Q===`,
  ])
}

/** A mutation of the parsed document, stringified again; `undefined` when it does not apply. */
type Structural = (rng: Rng, root: Json) => string | undefined

const structural: Record<string, Structural> = {
  'type swap': (rng, root) => {
    const all = slots(root)
    if (all.length === 0) return undefined
    const slot = pick(rng, all)
    slot.set(otherValue(rng, slot.value))
    return JSON.stringify(root)
  },
  'invalid base64': (rng, root) => {
    const bodies = slots(root).filter((s) => typeof s.value === 'string' && /body|text/i.test(String(s.key)))
    if (bodies.length === 0) return undefined
    pick(rng, bodies).set(badBase64(rng))
    return JSON.stringify(root)
  },
  'missing member': (rng, root) => {
    const members = slots(root).filter((s) => typeof s.key === 'string')
    if (members.length === 0) return undefined
    const slot = pick(rng, members)
    slot.set(undefined)
    return JSON.stringify(root)
  },
  'huge number': (rng, root) => {
    const numbers = slots(root).filter((s) => typeof s.value === 'number')
    const target = numbers.length > 0 ? pick(rng, numbers) : pick(rng, slots(root))
    if (!target) return undefined
    const marker = '"__number__"'
    target.set('__number__')
    return JSON.stringify(root).replace(marker, pick(rng, HUGE_NUMBERS))
  },
  'deep nesting': (rng, root) => {
    const all = slots(root)
    if (all.length === 0) return undefined
    const marker = '"__deep__"'
    pick(rng, all).set('__deep__')
    const depth = pick(rng, [100, 5_000, 100_000])
    const open = rng.int(2) === 0 ? '[' : '{"a":'
    const close = open === '[' ? ']' : '}'
    return JSON.stringify(root).replace(marker, `${open.repeat(depth)}1${close.repeat(depth)}`)
  },
  'duplicate key': (rng, root) => {
    const objects = slots(root).filter(
      (s) =>
        s.value !== null &&
        typeof s.value === 'object' &&
        !Array.isArray(s.value) &&
        Object.keys(s.value).length > 0,
    )
    if (objects.length === 0) return undefined
    const slot = pick(rng, objects)
    const o = slot.value as Record<string, Json>
    const key = pick(rng, Object.keys(o))
    // The same member twice, once with another value, before or after the original.
    const extra = `${JSON.stringify(key)}:${JSON.stringify(otherValue(rng, o[key]))}`
    const body = JSON.stringify(o).slice(1, -1)
    const marker = '"__duplicate__"'
    slot.set('__duplicate__')
    return JSON.stringify(root).replace(marker, rng.int(2) ? `{${extra},${body}}` : `{${body},${extra}}`)
  },
}

/** A mutation of the text itself. */
type Textual = (rng: Rng, text: string) => string

const CHARS = '[]{}",:0123456789-+.eE \n\\tufalsenrul\u0000\u00e9\ud800x'

const textual: Record<string, Textual> = {
  truncation: (rng, t) => t.slice(0, rng.int(t.length)),
  'byte edit': (rng, t) => {
    let out = t
    for (let k = 1 + rng.int(4); k > 0; k--) {
      const at = rng.int(out.length + 1)
      const op = rng.int(3)
      const c = pick(rng, [...CHARS])
      out =
        op === 0
          ? out.slice(0, at) + out.slice(at + 1)
          : op === 1
            ? out.slice(0, at) + c + out.slice(at)
            : out.slice(0, at) + c + out.slice(at + 1)
    }
    return out
  },
  'foreign start': (rng, t) =>
    pick(rng, ['\ufeff', 'null', '{}', '"a"', '   ', '\u0000']) + (rng.int(2) ? t : ''),
}

/** Names of the mutation kinds, in a fixed order. */
export const MUTATIONS = [...Object.keys(structural), ...Object.keys(textual)]

/** One seeded mutant of `seed`: its kind and its text. */
export function mutate(rng: Rng, seed: string): { kind: string; text: string } {
  for (;;) {
    const kind = pick(rng, MUTATIONS)
    const s = structural[kind]
    const mutated = s ? s(rng, JSON.parse(seed)) : textual[kind]!(rng, seed)
    if (mutated !== undefined && mutated !== seed) return { kind, text: mutated }
  }
}

/**
 * Writes a DVD whose one response body is `megabytes` MB of base64 with one character outside
 * the alphabet in its middle: the reader must refuse it at `[0][1].body`, in bounded time.
 */
export function writeHugeBody(file: string, megabytes: number): void {
  const body = Buffer.alloc(megabytes << 20, 'A')
  body[body.length >> 1] = '*'.charCodeAt(0)
  const head = '[[{"method": "GET", "url": "http://127.0.0.1:1/big", "headers": []}, '
  writeFileSync(
    file,
    Buffer.concat([
      Buffer.from(`${head}{"status": 200, "headers": [], "body": "b64_byte__`),
      body,
      Buffer.from('"}]]'),
    ]),
  )
}

// ---------------------------------------------------------------- running

/** What reading one mutant gave. */
export type Outcome =
  | { result: 'read' }
  | { result: 'refused'; code: string; location: string; problem: string }
  | { result: 'finding'; error: unknown }

/** Reads `file` with `reader` and classifies the result; a DVDFormatError must name the file and a place. */
export async function readMutant(reader: ReaderUnderTest, file: string, text: string): Promise<Outcome> {
  try {
    await reader.read(file)
    return { result: 'read' }
  } catch (error) {
    if (!(error instanceof DVDFormatError) || error.file !== file || !error.message.startsWith(`${file}: `)) {
      return { result: 'finding', error }
    }
    // A place is named, unless the file as a whole is at fault (empty, or not a list).
    const whole =
      /^\s*$/.test(text) ||
      /expected a list|ends before the list is closed|expected a \[request/.test(error.problem)
    if (!error.location && !whole) return { result: 'finding', error }
    return { result: 'refused', code: error.code, location: error.location, problem: error.problem }
  }
}

/** Tallies of a run: per reader, how many mutants of each kind were read or refused with each code. */
export interface Tally {
  reader: string
  total: number
  read: number
  byCode: Record<string, number>
  byKind: Record<string, number>
  /** Refusals by what they say, with the particulars (quoted text, numbers) left out. */
  byProblem: Record<string, number>
  findings: { kind: string; file: string; error: string }[]
}

/** Writes `count` seeded mutants per reader into `dir` and reads each. */
export async function runMutations(options: {
  readers?: ReaderUnderTest[]
  count: number
  seed: number
  dir: string
}): Promise<Tally[]> {
  const tallies: Tally[] = []
  for (const reader of options.readers ?? READERS) {
    const rng = prng(options.seed)
    const seeds = reader.seeds()
    const tally: Tally = {
      reader: reader.name,
      total: 0,
      read: 0,
      byCode: {},
      byKind: {},
      byProblem: {},
      findings: [],
    }
    for (let i = 0; i < options.count; i++) {
      const { kind, text } = mutate(rng, pick(rng, seeds))
      const file = join(options.dir, `${reader.name}-${i}${reader.extension}`)
      writeFileSync(file, text)
      const outcome = await readMutant(reader, file, text)
      tally.total++
      tally.byKind[kind] = (tally.byKind[kind] ?? 0) + 1
      if (outcome.result === 'read') tally.read++
      else if (outcome.result === 'refused') {
        tally.byCode[outcome.code] = (tally.byCode[outcome.code] ?? 0) + 1
        const problem = outcome.problem.split(/ \(|, found|: "| "/)[0]!.replace(/\b\d+\b/g, 'N')
        tally.byProblem[problem] = (tally.byProblem[problem] ?? 0) + 1
      } else {
        tally.findings.push({ kind, file, error: String((outcome.error as Error)?.stack ?? outcome.error) })
        continue
      }
      await rm(file)
    }
    tallies.push(tally)
  }
  return tallies
}
