import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { run } from '../lib/cli.js'
import { DVDLoader } from '../lib/index.js'
import { pythonFixturesDir } from './helpers/python.js'
import { startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

async function cli(...argv: string[]) {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) })
  return { code, stdout, stderr }
}

const fixture = () => join(pythonFixturesDir(), 'dvd-rw-0.1.6.dvd.json')

test('json-to-bin then bin-to-json gives back the recordings of a Python DVD', async (t) => {
  const dir = tempDir()
  const bin = join(dir, 'py.dvd.lz4')
  const json = join(dir, 'back.dvd.json')
  const toBin = await cli('json-to-bin', fixture(), bin, '--match-on', 'method,scheme,host,port,path,query')
  t.is(toBin.code, 0, toBin.stderr)
  t.regex(toBin.stdout, /12 recordings, indexed on method,scheme,host,port,path,query/)
  const toJson = await cli('bin-to-json', bin, json)
  t.is(toJson.code, 0, toJson.stderr)
  const original = JSON.parse(readFileSync(fixture(), 'utf8')) as unknown[][]
  const back = JSON.parse(readFileSync(json, 'utf8')) as unknown[][]
  t.is(back.length, original.length)
  t.deepEqual(
    back.map((pair) => (pair[1] as { body?: string }).body),
    original.map((pair) => (pair[1] as { body?: string }).body),
  )
  t.deepEqual(
    back.map((pair) => pair[0]),
    original.map((pair) => pair[0]),
  )
})

test('a Python DVD converted to binary replays through fetch like the JSON one', async (t) => {
  const bin = join(tempDir(), 'py.dvd.lz4')
  t.is((await cli('json-to-bin', fixture(), bin)).code, 0)
  const dvd = await DVDLoader.open(bin, { recordMode: 'none' })
  const res = await fetch('http://127.0.0.1:18631/gzip', {
    dispatcher: dvd.dispatcher,
  } as unknown as RequestInit)
  t.true((await res.text()).startsWith('{"zipped": true'))
  const counter = async () =>
    (
      await fetch('http://127.0.0.1:18631/counter', { dispatcher: dvd.dispatcher } as unknown as RequestInit)
    ).text()
  t.is(await counter(), 'call 1')
  t.is(await counter(), 'call 2')
})

test('inspect reports counts, hosts, methods, statuses and index statistics', async (t) => {
  const bin = join(tempDir(), 'py.dvd.lz4')
  await cli('json-to-bin', fixture(), bin)
  const { code, stdout } = await cli('inspect', bin)
  t.is(code, 0)
  t.regex(stdout, /format: binary/)
  t.regex(stdout, /recordings: 12/)
  t.regex(stdout, /127\.0\.0\.1:18631: 11/)
  t.regex(stdout, /GET: 11/)
  t.regex(stdout, /POST: 1/)
  t.regex(stdout, /200: 7/)
  t.regex(stdout, /error ECONNREFUSED: 1/)
  t.regex(stdout, /load factor 0\.\d+/)
  const json = await cli('inspect', fixture())
  t.is(json.code, 0)
  t.regex(json.stdout, /format: json/)
})

test('verify accepts a sound file and rejects a damaged one with exit code 1', async (t) => {
  const bin = join(tempDir(), 'py.dvd.lz4')
  await cli('json-to-bin', fixture(), bin)
  const ok = await cli('verify', bin)
  t.is(ok.code, 0, ok.stderr)
  t.regex(ok.stdout, /OK, 12 recordings/)
  const bytes = readFileSync(bin)
  bytes[300] = bytes[300]! ^ 0xff
  const damaged = join(tempDir(), 'damaged.dvd.lz4')
  writeFileSync(damaged, bytes)
  const bad = await cli('verify', damaged)
  t.is(bad.code, 1)
  t.true(bad.stderr.includes(damaged))
  t.regex(bad.stderr, /DVD_ERR_|checksum|corrupt/i)
  // A checker reports; it does not advise re-recording.
  t.false(bad.stderr.includes('record it again'), bad.stderr)
})

test('reindex rebuilds the stored index for another match_on', async (t) => {
  const server = await startServer()
  const bin = join(tempDir(), 'r.dvd.lz4')
  await DVDLoader.use(bin, { recordMode: 'once' }, async (dvd) => {
    await (
      await fetch(`${server.origin}/json?a=1`, { dispatcher: dvd.dispatcher } as unknown as RequestInit)
    ).text()
  })
  await server.close()
  const result = await cli('reindex', bin, '--match-on', 'method,path')
  t.is(result.code, 0, result.stderr)
  t.regex((await cli('inspect', bin)).stdout, /match_on method,path/)
  const dvd = await DVDLoader.open(bin, { recordMode: 'none', matchOn: ['method', 'path'] })
  const res = await fetch(`${server.origin}/json?other=query`, {
    dispatcher: dvd.dispatcher,
  } as unknown as RequestInit)
  t.is(res.status, 200)
})

test('malformed JSON input fails with exit code 1, names the file, and writes no output', async (t) => {
  const dir = tempDir()
  const input = join(dir, 'bad.dvd.json')
  writeFileSync(input, '[[{"method": "GET", "url": "http://x/", "headers": []}, {"status": "200"')
  const out = join(dir, 'out.dvd.lz4')
  const result = await cli('json-to-bin', input, out)
  t.is(result.code, 1)
  t.true(result.stderr.includes(input))
  t.throws(() => readFileSync(out))
})

test('usage errors exit with code 2 and show the usage', async (t) => {
  t.is((await cli()).code, 2)
  const unknown = await cli('burn', 'x')
  t.is(unknown.code, 2)
  t.regex(unknown.stderr, /unknown command "burn"/)
  const missing = await cli('json-to-bin', 'only-one-file')
  t.is(missing.code, 2)
  t.regex(missing.stderr, /Usage: dvd-convert json-to-bin/)
  t.is((await cli('bin-to-json', 'a', 'b', '--colour')).code, 2)
  t.is((await cli('json-to-bin', 'a', 'b', '--match-on', 'nope')).code, 2)
  t.is((await cli('reindex', 'a.dvd.lz4')).code, 2)
})

test('--help works for the tool and for every command', async (t) => {
  const help = await cli('--help')
  t.is(help.code, 0)
  for (const command of ['json-to-bin', 'bin-to-json', 'inspect', 'verify', 'reindex']) {
    t.true(help.stdout.includes(command))
    const sub = await cli(command, '--help')
    t.is(sub.code, 0)
    t.regex(sub.stdout, new RegExp(`Usage: dvd-convert ${command}`))
  }
})

test('a missing input file exits with code 1', async (t) => {
  const result = await cli('inspect', join(tempDir(), 'nope.dvd.lz4'))
  t.is(result.code, 1)
  t.regex(result.stderr, /no such file/)
})

test('inspect --report shows which recordings a run played', async (t) => {
  const dir = tempDir()
  const bin = join(dir, 'py.dvd.lz4')
  await cli('json-to-bin', fixture(), bin)
  const dvd = await DVDLoader.open(bin, { recordMode: 'none' })
  const counter = () =>
    fetch('http://127.0.0.1:18631/counter', { dispatcher: dvd.dispatcher } as unknown as RequestInit).then(
      (r) => r.text(),
    )
  await counter()
  const reportFile = join(dir, 'run.json')
  writeFileSync(reportFile, JSON.stringify(dvd.report()))
  await dvd.close({ save: false })
  const { code, stdout } = await cli('inspect', bin, '--report', reportFile)
  t.is(code, 0)
  t.regex(stdout, /played 1 of 12 recordings, 11 never played/)
  t.regex(stdout, /#6 played 1× {2}GET http:\/\/127\.0\.0\.1:18631\/counter/)
  t.regex(stdout, /#7 never played {2}GET http:\/\/127\.0\.0\.1:18631\/counter/)
  const bad = await cli('inspect', bin, '--report', join(dir, 'missing.json'))
  t.is(bad.code, 1)
  t.regex(bad.stderr, /not a readable run report/)
})

test('json-to-bin and bin-to-json write into folders that do not exist yet', async (t) => {
  const dir = tempDir()
  const bin = join(dir, 'new', 'bin', 'py.dvd.lz4')
  const json = join(dir, 'other', 'json', 'back.dvd.json')
  const toBin = await cli('json-to-bin', fixture(), bin)
  t.is(toBin.code, 0, toBin.stderr)
  const toJson = await cli('bin-to-json', bin, json)
  t.is(toJson.code, 0, toJson.stderr)
  t.regex(toJson.stdout, /back\.dvd\.json: 12 recordings/)
  t.deepEqual(readdirSync(join(dir, 'new', 'bin')), ['py.dvd.lz4'])
  t.deepEqual(readdirSync(join(dir, 'other', 'json')), ['back.dvd.json'])
  t.is((JSON.parse(readFileSync(json, 'utf8')) as unknown[]).length, 12)
})

test('a conversion that cannot write its output fails with exit code 1, a DVD_ERR_SAVE message and no temporary file', async (t) => {
  const dir = tempDir()
  writeFileSync(join(dir, 'plain'), 'a file where a folder should be')
  const bin = join(dir, 'py.dvd.lz4')
  t.is((await cli('json-to-bin', fixture(), bin)).code, 0)
  for (const [command, input, output] of [
    ['bin-to-json', bin, join(dir, 'plain', 'back.dvd.json')],
    ['json-to-bin', fixture(), join(dir, 'plain', 'again.dvd.lz4')],
  ] as const) {
    const result = await cli(command, input, output)
    t.is(result.code, 1, command)
    t.true(
      result.stderr.startsWith(
        `dvd-convert ${command}: ${output}: could not save the DVD: cannot create the folder`,
      ),
      result.stderr,
    )
    t.regex(result.stderr, /A part of the path is a file, not a folder/)
    t.false(existsSync(output))
  }
  t.deepEqual(readdirSync(dir).sort(), ['plain', 'py.dvd.lz4'])
})

test('the counts the CLI prints agree with their number', async (t) => {
  const server = await startServer()
  const bin = join(tempDir(), 'one.dvd.lz4')
  await DVDLoader.use(bin, { recordMode: 'once' }, async () => (await fetch(`${server.origin}/json`)).text())
  await server.close()
  const verify = await cli('verify', bin)
  t.is(verify.code, 0, verify.stderr)
  t.regex(verify.stdout, /OK, 1 recording \(binary\)/)
  const json = join(tempDir(), 'one.dvd.json')
  t.regex((await cli('bin-to-json', bin, json)).stdout, /: 1 recording\n$/)
  t.regex((await cli('json-to-bin', json, bin)).stdout, /: 1 recording, indexed on/)
  t.regex(
    (await cli('reindex', bin, '--match-on', 'method,path')).stdout,
    /: 1 recording, indexed on method,path/,
  )
})
