// Throws seeded mutations of valid files at the JSON DVD readers (whole-file and streaming; with
// --har, the HAR reader instead) and
// counts what each gives: read (still valid), refused with each error code, or a finding (any
// other exception, or a DVDFormatError that names no file or place). Exits 1 on any finding.
//   npm run build && node scripts/mutate-readers.mjs [COUNT=10000] [SEED=26] [--har]
// The mutations and readers are in test/helpers/reader_mutations.ts.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  HAR_READER,
  READERS,
  readMutant,
  runMutations,
  writeHugeBody,
} from '../dist/test/helpers/reader_mutations.js'

const args = process.argv.slice(2).filter((a) => a !== '--har')
const readers = process.argv.includes('--har') ? [HAR_READER] : READERS
const count = Number(args[0] ?? 10_000)
const seed = Number(args[1] ?? 26)
const dir = mkdtempSync(join(tmpdir(), 'dvd-rw-mutations-'))
let findings = 0
try {
  const started = process.hrtime.bigint()
  for (const tally of await runMutations({ readers, count, seed, dir })) {
    console.log(`${tally.reader}: ${tally.total} mutants, ${tally.read} still valid and read`)
    for (const [code, n] of Object.entries(tally.byCode).sort()) console.log(`  ${code}: ${n}`)
    console.log(`  by mutation: ${JSON.stringify(tally.byKind)}`)
    console.log('  by problem:')
    for (const [problem, n] of Object.entries(tally.byProblem).sort((a, b) => b[1] - a[1]))
      console.log(`    ${n}  ${problem}`)
    for (const f of tally.findings)
      console.log(`  FINDING (${f.kind}) ${f.file}\n    ${f.error.split('\n').join('\n    ')}`)
    findings += tally.findings.length
  }
  // One JSON DVD with a body of 100 MB per JSON reader, timed.
  const huge = join(dir, 'huge.dvd.json')
  writeHugeBody(huge, 100)
  for (const reader of readers.filter((r) => r.extension === '.dvd.json')) {
    const t0 = process.hrtime.bigint()
    const outcome = await readMutant(reader, huge, '')
    const ms = (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)
    console.log(
      `${reader.name}: a 100 MB body with a bad character: ${outcome.result} ${outcome.location ?? ''} in ${ms} ms`,
    )
    if (outcome.result !== 'refused' || outcome.location !== '[0][1].body') findings++
  }
  rmSync(huge)
  console.log(
    `${findings} findings in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s (seed ${seed})`,
  )
} finally {
  if (findings === 0) rmSync(dir, { recursive: true, force: true })
  else console.log(`mutants with findings kept in ${dir}`)
}
process.exitCode = findings > 0 ? 1 : 0
