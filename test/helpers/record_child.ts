/**
 * A separate process recording into a DVD, for the two-writers tests:
 * `node record_child.js FILE URL` opens FILE in mode new_episodes, records URL, prints
 * `recorded`, and closes (saving) when a line arrives on stdin, then prints `saved`. A failure
 * prints `error CODE` and exits 3.
 */
import { once } from 'node:events'
import { DVDLoader } from '../../lib/index.js'

const [file, url] = process.argv.slice(2) as [string, string]
try {
  const dvd = await DVDLoader.open(file, { recordMode: 'new_episodes' })
  await (await dvd.fetch(url)).text()
  process.stdout.write('recorded\n')
  await once(process.stdin, 'data')
  await dvd.close()
  process.stdout.write('saved\n')
  process.exit(0)
} catch (error) {
  process.stdout.write(`error ${(error as { code?: string }).code}\n`)
  process.exit(3)
}
