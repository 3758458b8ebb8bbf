/**
 * The OpenAI SDK streaming a chat completion through the global fetch, against an OpenAI-shaped
 * server on 127.0.0.1: replay gives the same text, and with recorded timing the same time to first
 * token. Serial: each test installs its DVD as the global dispatcher, which the SDK's fetch uses.
 */
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import OpenAI from 'openai'
import { DVDLoader, type DVDOptions } from '../lib/index.js'
import { tempDir } from './helpers/tmp.js'

/** How long the server "thinks" before its first token, and between tokens (ms). */
const FIRST_TOKEN_MS = 300
const TOKEN_GAP_MS = 20
const TOKENS = ['Recorded', ' streams', ' replay', ' as', ' they', ' came', '.']

/** An OpenAI-compatible `/v1/chat/completions` that streams {@link TOKENS} as Server-Sent Events. */
async function startModelServer(): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = createServer(async (req, res) => {
    for await (const _ of req) {
      // The request body is not needed.
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-request-id': 'req_1' })
    res.flushHeaders()
    const event = (delta: Record<string, unknown>, finish: string | null = null) =>
      `data: ${JSON.stringify({
        id: 'chatcmpl-1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'test-model',
        choices: [{ index: 0, delta, finish_reason: finish }],
      })}\n\n`
    await sleep(FIRST_TOKEN_MS)
    res.write(event({ role: 'assistant', content: '' }))
    for (const token of TOKENS) {
      res.write(event({ content: token }))
      await sleep(TOKEN_GAP_MS)
    }
    res.write(event({}, 'stop'))
    res.end('data: [DONE]\n\n')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** Streams one completion through the SDK (global fetch); its text and time to first token. */
async function complete(origin: string): Promise<{ text: string; firstTokenMs: number; deltas: number }> {
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${origin}/v1`, maxRetries: 0 })
  const started = performance.now()
  const stream = await client.chat.completions.create({
    model: 'test-model',
    messages: [{ role: 'user', content: 'Say something.' }],
    stream: true,
  })
  let text = ''
  let firstTokenMs = -1
  let deltas = 0
  for await (const chunk of stream) {
    const content = chunk.choices[0]?.delta.content
    if (!content) continue
    if (firstTokenMs < 0) firstTokenMs = performance.now() - started
    text += content
    deltas++
  }
  return { text, firstTokenMs, deltas }
}

/** When the first chunk of the only recording in a JSON DVD came, in ms after its headers. */
function recordedFirstChunk(file: string): number {
  return JSON.parse(readFileSync(file, 'utf8'))[0][1].chunks.gaps_ms[0]
}

async function recordThenReplay(options: DVDOptions) {
  const server = await startModelServer()
  const file = join(tempDir(), 'openai.dvd.json')
  const live = await DVDLoader.use(file, { recordMode: 'once' }, () => complete(server.origin))
  await server.close()
  const replayed = await DVDLoader.use(file, { ...options, recordMode: 'none' }, () =>
    complete(server.origin),
  )
  return { live, replayed, firstChunkMs: recordedFirstChunk(file) }
}

test.serial('an OpenAI SDK stream replays with the same text, token by token', async (t) => {
  const { live, replayed } = await recordThenReplay({})
  t.is(live.text, TOKENS.join(''))
  t.deepEqual(replayed, { ...live, firstTokenMs: replayed.firstTokenMs })
  // Instant replay does not wait for the server's thinking time.
  t.true(replayed.firstTokenMs < FIRST_TOKEN_MS, `first token after ${replayed.firstTokenMs} ms`)
})

test.serial("with timing: 'recorded' an OpenAI SDK stream keeps its time to first token", async (t) => {
  const { live, replayed, firstChunkMs } = await recordThenReplay({ timing: 'recorded' })
  t.is(replayed.text, live.text)
  // The first token waits for its recorded offset, and (generous bounds for a loaded machine)
  // comes about when it came live.
  t.true(firstChunkMs > FIRST_TOKEN_MS / 2, `recorded first chunk after ${firstChunkMs} ms`)
  t.true(replayed.firstTokenMs >= firstChunkMs - 3, `first token after ${replayed.firstTokenMs} ms`)
  t.true(
    Math.abs(replayed.firstTokenMs - live.firstTokenMs) < 250,
    `live ${live.firstTokenMs} ms, replayed ${replayed.firstTokenMs} ms`,
  )
})
