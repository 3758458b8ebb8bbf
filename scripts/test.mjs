#!/usr/bin/env node
// `npm test`: builds the TypeScript, runs the ava suite, then the Rust tests whatever ava's result
// (a failure in one must not hide the other), and ends with one line summing up everything that
// ran. Exit code 0 only when both passed.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { stripVTControlCharacters } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Runs a command, echoing its output as it comes, and resolves with its exit code and output. */
function run(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ['inherit', 'pipe', 'pipe'] })
    let output = ''
    const echo = (stream) => (chunk) => {
      output += chunk
      stream.write(chunk)
    }
    child.stdout.on('data', echo(process.stdout))
    child.stderr.on('data', echo(process.stderr))
    child.on('error', (error) => {
      output += `${error.message}\n`
      resolve({ code: 127, output })
    })
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }))
  })
}

// ava's closing lines: "297 tests passed", "1 test failed", "3 tests skipped", "2 known failures",
// "1 uncaught exception", "1 unhandled rejection", "1 test todo".
function avaCounts(output) {
  const text = stripVTControlCharacters(output)
  const sum = (pattern) => [...text.matchAll(pattern)].reduce((n, m) => n + Number(m[1]), 0)
  // With failures ava prints no "passed" line; then its one line per passed test is counted.
  const passedLine = /^\s*(\d+) tests? passed/m.test(text)
  return {
    passed: passedLine ? sum(/^\s*(\d+) tests? passed/gm) : (text.match(/^ {2}✔ /gm)?.length ?? 0),
    failed:
      sum(/^\s*(\d+) tests? failed/gm) +
      sum(/^\s*(\d+) uncaught exceptions?/gm) +
      sum(/^\s*(\d+) unhandled rejections?/gm) +
      sum(/^\s*(\d+) tests? remained pending/gm),
    skipped: sum(/^\s*(\d+) tests? skipped/gm) + sum(/^\s*(\d+) tests? todo/gm),
  }
}

// cargo's "test result: ok. 83 passed; 0 failed; 0 ignored; …", one line per test binary.
function cargoCounts(output) {
  const counts = { passed: 0, failed: 0, skipped: 0 }
  for (const m of output.matchAll(/^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/gm)) {
    counts.passed += Number(m[1])
    counts.failed += Number(m[2])
    counts.skipped += Number(m[3])
  }
  return counts
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const build = await run(npm, ['run', '--silent', 'build'])
if (build.code !== 0) {
  console.log('\ntest: the TypeScript build failed; no test ran')
  process.exit(build.code)
}
// The Python interop tests make their virtualenv on first use; doing it here first keeps a slow
// `pip install` from running into ava's timeout. Same code, so `npx ava` alone works as well.
const helper = pathToFileURL(join(root, 'dist', 'test', 'helpers', 'python.js'))
const { preparePython } = await import(helper.href)
try {
  const skip = await preparePython()
  if (skip) console.log(`Python interop tests will be skipped: ${skip}.`)
} catch (error) {
  // Reported again, as failures, by the interop tests themselves.
  console.log(error.message)
}
const ava = await run(process.execPath, [join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs')])
const cargo = await run(npm, ['run', '--silent', 'test:native'])

const a = avaCounts(ava.output)
const c = cargoCounts(cargo.output)
// A runner that failed without reporting a failed test (a crash, a compile error) still fails.
if (ava.code !== 0 && a.failed === 0) a.failed = 1
if (cargo.code !== 0 && c.failed === 0) c.failed = 1
const ok = ava.code === 0 && cargo.code === 0
console.log(
  [
    '',
    `ava: ${a.passed} passed, ${a.failed} failed, ${a.skipped} skipped`,
    `cargo: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`,
    `total: ${a.passed + c.passed} passed, ${a.failed + c.failed} failed, ${a.skipped + c.skipped} skipped`,
  ].join('\n'),
)
process.exit(ok ? 0 : 1)
