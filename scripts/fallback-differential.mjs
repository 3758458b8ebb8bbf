// The TypeScript fallback reader on the native fuzz targets' inputs: every file of the given
// folders (the committed seeds, a fuzz run's corpus) is opened with the native reader and with the
// fallback; both must accept it or both refuse it with the same DVD_ERR_* code, and then give the
// same count, match_on, lookups, records and match fields, or the same error code for each.
//   npm run build && node scripts/fallback-differential.mjs native/fuzz/seeds/dvd native/fuzz/corpus/record
// Exits 1 on any difference, listing the files.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { FallbackDvdReader } from '../dist/lib/formats/binary_fallback.js'
import { nativeBinding } from '../dist/lib/native.js'

const native = nativeBinding()
if (!native) throw new Error('the native addon does not load here: nothing to compare with')

/** The result of `f`, or the DVD_ERR_* code it threw (any other exception is a finding). */
function attempt(f) {
  try {
    const value = f()
    return { value: value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value }
  } catch (error) {
    const code = /^DVD_ERR_[A-Z_]+/.exec(error?.message ?? '')?.[0] ?? error?.code
    if (typeof code !== 'string' || !code.startsWith('DVD_ERR_'))
      return { crash: String(error?.stack ?? error) }
    return { code }
  }
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b)
let files = 0
let opened = 0
const differences = []
for (const dir of process.argv.slice(2)) {
  for (const name of readdirSync(dir)) {
    const file = join(dir, name)
    files++
    const a = attempt(() => native.NativeDvdReader.open(file))
    const b = attempt(() => FallbackDvdReader.open(file))
    const diff = (what, x, y) => {
      if (!same(x, y) || x.crash || y.crash) differences.push({ file, what, native: x, fallback: y })
    }
    if (a.value === undefined || b.value === undefined) {
      diff('open', a.code ?? a.crash ?? 'opened', b.code ?? b.crash ?? 'opened')
      continue
    }
    opened++
    const [n, f] = [a.value, b.value]
    diff(
      'count',
      attempt(() => n.count),
      attempt(() => f.count),
    )
    diff(
      'matchOn',
      attempt(() => n.matchOn),
      attempt(() => f.matchOn),
    )
    for (const key of ['GET https://example.com/', 'x', '']) {
      diff(
        `lookup ${key}`,
        attempt(() => [...n.lookup(Buffer.from(key))]),
        attempt(() => [...f.lookup(Buffer.from(key))]),
      )
    }
    const count = Math.min(typeof n.count === 'number' ? n.count : 0, 24)
    for (let id = 0; id <= count; id++) {
      diff(
        `record ${id}`,
        attempt(() => n.record(id)),
        attempt(() => f.record(id)),
      )
      diff(
        `matchFields ${id}`,
        attempt(() => n.matchFields(id)),
        attempt(() => f.matchFields(id)),
      )
    }
    diff(
      'verify',
      attempt(() => n.verify()),
      attempt(() => f.verify()),
    )
  }
}
console.log(`${files} files, ${opened} opened by both readers, ${differences.length} differences`)
for (const d of differences.slice(0, 20)) console.log(JSON.stringify(d).slice(0, 400))
process.exitCode = differences.length > 0 ? 1 : 0
