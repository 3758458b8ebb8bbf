/**
 * Secrets beyond headers: response bodies that carry credentials (an API echoing the caller's
 * token) are redacted before anything is written with `redactResponseBody` (specified for every
 * storage in suites/secrets.ts; its validation and matching here); `dvd-convert scan`
 * finds credential-shaped strings in an existing DVD and exits 1 naming recording and place, and
 * `dvd-convert redact` scrubs them. A redacted recording still replays and matches.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import test from 'ava'
import { run } from '../lib/cli.js'
import { DVDLoader, InvalidOptionError } from '../lib/index.js'
import { bodyRules, redactResponseBody } from '../lib/redact_body.js'
import { startServer } from './helpers/server.js'
import { tempDir } from './helpers/tmp.js'

async function cli(...argv: string[]) {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) })
  return { code, stdout, stderr }
}

// Shaped like real keys, made up for the tests.
const TOKEN = 'sk-test0123456789abcdefghijklmn'
const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE'
/** The echo route answers `{ method, contentType, authorization, body }`: the token comes back. */
const call = { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: `{"note":"${AWS_KEY}"}` }

test('redactResponseBody is validated', async (t) => {
  for (const bad of [{ jsonFields: 'token' }, { text: [42] }, { fields: ['x'] }, []]) {
    await t.throwsAsync(
      DVDLoader.open(join(tempDir(), 'x.dvd.json'), { redactResponseBody: bad as never }),
      { instanceOf: InvalidOptionError },
      JSON.stringify(bad),
    )
  }
})

test('dvd-convert scan names each credential-shaped string by recording and place without printing it; redact scrubs them and the copy replays', async (t) => {
  const server = await startServer()
  const dir = tempDir()
  const leaky = join(dir, 'leaky.dvd.json')
  // Recorded before any body rule existed: the request header is redacted by default, the echo is not.
  await DVDLoader.use(leaky, { recordMode: 'once' }, async (dvd) => {
    await (await dvd.fetch(`${server.origin}/json`)).text()
    await (await dvd.fetch(`${server.origin}/echo`, { ...call, body: 'ok' })).text()
  })
  const pem = join(dir, 'pem.dvd.lz4')
  await DVDLoader.use(pem, { recordMode: 'once' }, async (dvd) => {
    await (
      await dvd.fetch(`${server.origin}/echo`, { method: 'POST', body: '-----BEGIN RSA PRIVATE KEY-----' })
    ).text()
  })

  const scan = await cli('scan', leaky, pem)
  t.is(scan.code, 1)
  t.regex(
    scan.stdout,
    /leaky\.dvd\.json: recording #1 \(POST http:\/\/127\.0\.0\.1:\d+\/echo\) response\.body at byte \d+: bearer token Bearer…/,
  )
  t.regex(
    scan.stdout,
    /leaky\.dvd\.json: recording #1 .* response\.body at byte \d+: sk- secret key sk-tes…\(31 characters\)/,
  )
  t.regex(scan.stdout, /pem\.dvd\.lz4: recording #0 .* request\.body at byte 0: private key block/)
  t.false(scan.stdout.includes(TOKEN))
  t.regex(scan.stderr, /3 credential-shaped strings in 2 files; scrub them with dvd-convert redact/)

  for (const out of ['clean.dvd.lz4', 'clean.dvd.json']) {
    const clean = join(dir, out)
    const redact = await cli('redact', leaky, clean, '--credentials')
    t.is(redact.code, 0, redact.stderr)
    t.regex(redact.stdout, /2 recordings, redacted/)
    const again = await cli('scan', clean)
    t.is(again.code, 0, again.stdout)
    t.regex(again.stdout, /no credential-shaped strings in 2 recordings of 1 file/)
    // The copy still replays, with the caller's real token, and hands out the redacted body.
    const replay = await DVDLoader.open(clean, { recordMode: 'none' })
    const body = (await (
      await replay.fetch(`${server.origin}/echo`, { ...call, body: 'ok' })
    ).json()) as Record<string, string>
    t.is(body.authorization, '[REDACTED]')
    t.is((await replay.fetch(`${server.origin}/json`)).status, 200)
    await replay.close()
  }
  await server.close()
})

test('dvd-convert redact applies named JSON members, a literal and a pattern', async (t) => {
  const server = await startServer()
  const dir = tempDir()
  const leaky = join(dir, 'leaky.dvd.lz4')
  await DVDLoader.use(leaky, { recordMode: 'once' }, async (dvd) => {
    await (await dvd.fetch(`${server.origin}/echo`, { ...call, body: 'ok' })).text()
  })
  const clean = join(dir, 'clean.dvd.json')
  const redact = await cli(
    'redact',
    leaky,
    clean,
    '--json-fields',
    'contentType,authorization',
    '--text',
    'POST',
    '--pattern',
    'b2s=',
  )
  t.is(redact.code, 0, redact.stderr)
  const [[, response]] = JSON.parse(readFileSync(clean, 'utf8')) as [[unknown, { body: string }]]
  const body = JSON.parse(
    Buffer.from(response.body.slice('b64_byte__'.length), 'base64').toString(),
  ) as Record<string, string>
  t.deepEqual(body, {
    method: '[REDACTED]',
    contentType: '[REDACTED]',
    authorization: '[REDACTED]',
    body: '[REDACTED]',
  })
  t.is((await cli('redact', leaky, clean, '--pattern', '(')).code, 2)
  await server.close()
})

test('JSON members are redacted at any depth, in arrays too, and a compressed body is stored decoded', (t) => {
  const json = {
    data: [{ user: { api_key: 'k1', name: 'a' } }, { api_key: { nested: 'k2' } }],
    api_key: 'k3',
  }
  const response = {
    status: 200,
    headers: [
      ['content-encoding', 'gzip'],
      ['content-length', '999'],
    ] as [string, string][],
    body: gzipSync(JSON.stringify(json)),
  }
  const rules = bodyRules({ jsonFields: ['api_key'] })!
  const redacted = redactResponseBody(response, rules)
  t.deepEqual(JSON.parse(Buffer.from(redacted.body!).toString()), {
    data: [{ user: { api_key: '[REDACTED]', name: 'a' } }, { api_key: '[REDACTED]' }],
    api_key: '[REDACTED]',
  })
  t.deepEqual(redacted.headers, [['content-length', String(redacted.body!.length)]])
  // Nothing to redact: the very same response.
  t.is(redactResponseBody(response, bodyRules({ jsonFields: ['other'] })!), response)
  t.is(redactResponseBody({ ...response, body: Buffer.from([0xff, 0xfe, 0x00]) }, rules).body![0], 0xff)
})
