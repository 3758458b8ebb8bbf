import { type ChildProcess, spawn } from 'node:child_process'
import net from 'node:net'

/**
 * A TCP port on 127.0.0.1 whose listener never accepts and whose accept queue is full, so new
 * connections hang in the handshake: the real conditions of a connect timeout. Node's own servers
 * always accept, so a small Python listener (python3 is part of the toolchain) holds the port.
 */
export async function unresponsivePort(): Promise<{ port: number; close: () => void }> {
  const script = [
    'import socket, sys',
    's = socket.socket()',
    "s.bind(('127.0.0.1', 0))",
    's.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()',
  ].join('\n')
  const child: ChildProcess = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject)
    child.stdout!.once('data', (data) => resolve(Number(String(data).trim())))
  })
  const fillers = Array.from({ length: 4 }, () => net.connect(port, '127.0.0.1').on('error', () => {}))
  await new Promise((resolve) => setTimeout(resolve, 100))
  return {
    port,
    close: () => {
      for (const socket of fillers) socket.destroy()
      child.stdin!.end()
      child.kill()
    },
  }
}
