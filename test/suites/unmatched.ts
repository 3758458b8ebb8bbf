/** Unmatched requests and what their errors say, against every storage. */
import { join } from 'node:path'
import type { TestFn } from 'ava'
import { request } from 'undici'
import { DVDLoader, type LoadedDVD, MATCH_ON_WITHOUT_PORT, UnmatchedRequestError } from '../../lib/index.js'
import { startServer } from '../helpers/server.js'
import { tempDir } from '../helpers/tmp.js'
import { extOf, type Format } from './format.js'

export function unmatchedSuite(test: TestFn, format: Format): void {
  const ext = extOf(format)

  async function recorded(paths: string[]): Promise<{ file: string; origin: string }> {
    const server = await startServer()
    const file = join(tempDir(), `unmatched.${ext}`)
    await DVDLoader.use(file, { recordMode: 'once' }, async (dvd) => {
      for (const path of paths) {
        const [method, p] = path.split(' ') as [string, string]
        await (
          await fetch(server.origin + p, { method, dispatcher: dvd.dispatcher } as unknown as RequestInit)
        ).text()
      }
    })
    await server.close()
    return { file, origin: server.origin }
  }

  async function unmatched(dvd: LoadedDVD, url: string, method = 'GET'): Promise<UnmatchedRequestError> {
    try {
      await fetch(url, { method, dispatcher: dvd.dispatcher } as unknown as RequestInit)
    } catch (error) {
      const cause = (error as Error).cause
      if (cause instanceof UnmatchedRequestError) return cause
      throw error
    }
    throw new Error('expected an unmatched request')
  }

  test('the unmatched-request error names the request, the DVD file, the mode and the matchers', async (t) => {
    const { file, origin } = await recorded(['GET /json?page=1'])
    const dvd = await DVDLoader.open(file, { recordMode: 'none' })
    const error = await unmatched(dvd, `${origin}/users`, 'DELETE')
    t.is(error.code, 'DVD_ERR_UNMATCHED')
    t.is(error.file, file)
    t.true(error.message.includes(`DELETE ${origin}/users`))
    t.true(error.message.includes(file))
    t.true(error.message.includes('mode "none"'))
    t.true(error.message.includes('matching on method, scheme, host, port, path, query'))
    t.true(error.message.includes('DVD_RECORD_MODE=new_episodes'))
  })

  test('the unmatched-request error lists the nearest recordings with the matchers that differ', async (t) => {
    const { file, origin } = await recorded(['GET /json?page=1', 'POST /echo', 'GET /counter'])
    const dvd = await DVDLoader.open(file, { recordMode: 'none' })
    const error = await unmatched(dvd, `${origin}/json?page=2`)
    t.deepEqual(error.nearest[0], { index: 0, request: `GET ${origin}/json?page=1`, differences: ['query'] })
    t.deepEqual(error.nearest[1], {
      index: 2,
      request: `GET ${origin}/counter`,
      differences: ['path', 'query'],
    })
    t.deepEqual(error.nearest[2], {
      index: 1,
      request: `POST ${origin}/echo`,
      differences: ['method', 'path', 'query'],
    })
    t.regex(error.message, /#0 GET .*\/json\?page=1 — differs in query/)
  })

  test('the unmatched-request error says when the matching recordings were already played', async (t) => {
    const { file, origin } = await recorded(['GET /counter'])
    const dvd = await DVDLoader.open(file, { recordMode: 'none' })
    await (await fetch(`${origin}/counter`, { dispatcher: dvd.dispatcher } as unknown as RequestInit)).text()
    const error = await unmatched(dvd, `${origin}/counter`)
    t.regex(error.message, /1 recording with the same key was already played/)
    t.regex(error.message, /allowPlaybackRepeats/)
  })

  test('undici.request rejects with the UnmatchedRequestError itself', async (t) => {
    const { file, origin } = await recorded(['GET /json'])
    const dvd = await DVDLoader.open(file, { recordMode: 'none' })
    await t.throwsAsync(request(`${origin}/nothing`, { dispatcher: dvd.dispatcher }), {
      instanceOf: UnmatchedRequestError,
      message: /no recording matches: GET .*\/nothing/,
    })
  })

  test('when only the port of a loopback host differs, the error says to match without the port instead of re-recording', async (t) => {
    const { file } = await recorded(['GET /json'])
    // The same local test server, started again on port 0, listens on another port.
    const server = await startServer()
    const dvd = await DVDLoader.open(file, { recordMode: 'none', onWarning() {} })
    const error = await unmatched(dvd, `${server.origin}/json`)
    await server.close()
    t.deepEqual(error.nearest[0]?.differences, ['port'])
    t.regex(error.message, /Only the port differs, on a loopback host/)
    t.regex(error.message, /matchOn: MATCH_ON_WITHOUT_PORT/)
    t.false(error.message.includes('record it again'))
  })

  test('MATCH_ON_WITHOUT_PORT replays a local server recorded on another port', async (t) => {
    const { file } = await recorded(['GET /json'])
    const server = await startServer()
    await server.close()
    const dvd = await DVDLoader.open(file, { recordMode: 'none', matchOn: MATCH_ON_WITHOUT_PORT })
    const res = await fetch(`${server.origin}/json`, { dispatcher: dvd.dispatcher } as unknown as RequestInit)
    t.is(res.status, 200)
    await res.text()
    await dvd.close()
  })
}
