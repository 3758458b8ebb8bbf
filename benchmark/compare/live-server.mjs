// The live-server floor: node:http on 127.0.0.1 answering each request with its 2 KiB body
// (`/<host>/<path>?id=i&…`). Prints its port on stdout.
import { createServer } from 'node:http'
import { BODY_BYTES, body, contentType } from './workload.mjs'

const kind = process.argv[2] ?? 'random'
const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    const id = Number(new URL(req.url, 'http://x').searchParams.get('id'))
    res.writeHead(200, { 'content-type': contentType(kind), 'content-length': BODY_BYTES })
    res.end(Buffer.from(body(id, kind)))
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
