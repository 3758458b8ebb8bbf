/**
 * A replayed body is let go once it has been handed to the consumer, even while the consumer
 * holds on to the `resume` callback (fetch does, until its Response is garbage-collected): replay
 * must not keep every body it served alive until a full garbage collection.
 */
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import test from 'ava'
import { writeBinary } from '../lib/formats/binary.js'
import { DEFAULT_MATCH_ON, DVDLoader } from '../lib/index.js'
import { tempDir } from './helpers/tmp.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

test('a replayed body is released once sent, though the consumer keeps resume', async (t) => {
  const origin = 'http://replay.test'
  const file = join(tempDir(), 'release.dvd.lz4')
  const body = Buffer.alloc(2048, 7)
  writeBinary(
    file,
    [
      {
        kind: 'recording',
        recording: {
          request: { method: 'GET', url: `${origin}/x`, headers: [] },
          outcome: { status: 200, headers: [], body },
        },
      },
    ],
    DEFAULT_MATCH_ON,
  )
  const dvd = await DVDLoader.open(file, { recordMode: 'none' })
  // Watch the body the DVD hands to its interceptor.
  let served: WeakRef<Uint8Array> | undefined
  const decide = dvd.dvd.decide.bind(dvd.dvd)
  dvd.dvd.decide = (request, parts) => {
    const decision = decide(request, parts)
    const outcome = decision.kind === 'replay' ? decision.outcome : undefined
    if (outcome && 'body' in outcome && outcome.body) served = new WeakRef(outcome.body)
    return decision
  }
  const kept: { resume?: () => void; chunks: number } = { chunks: 0 }
  await new Promise<void>((resolve, reject) => {
    dvd.dispatcher.dispatch({ origin, path: '/x', method: 'GET', headers: {} }, {
      onConnect() {},
      onHeaders(_status: number, _headers: Buffer[], resume: () => void) {
        kept.resume = resume
        return true
      },
      onData() {
        kept.chunks++
        return true
      },
      onComplete: () => resolve(),
      onError: reject,
    } as never)
  })
  t.is(kept.chunks, 1)
  t.truthy(kept.resume)
  t.truthy(served?.deref(), 'the body is watched')
  // Collected only when nothing of dvd-rw's that `resume` reaches still holds it.
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  t.is(served?.deref(), undefined)
  await dvd.close()
})
