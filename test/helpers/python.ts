/**
 * Where the Python side of the interop tests lives: the repository root, the fixtures recorded by
 * Python dvd-rw (copied into `test/fixtures/python-dvd-rw`), and the venv made by
 * `scripts/python-venv.sh`, with a runner for small Python scripts.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The checkout's root: the nearest directory above this file holding dvd-rw's package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'dvd-rw'
    ) {
      return dir
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`no dvd-rw package.json above ${fileURLToPath(import.meta.url)}`)
    dir = parent
  }
}

/**
 * The DVDs recorded by Python dvd-rw: `<repo>/test/fixtures/python-dvd-rw`. Throws (so the
 * test fails, it does not skip) when the directory is missing.
 */
export function pythonFixturesDir(): string {
  const dir = resolve(repoRoot(), 'test', 'fixtures', 'python-dvd-rw')
  if (!existsSync(join(dir, 'dvd-rw-0.1.6.dvd.json'))) {
    throw new Error(
      `The Python dvd-rw fixtures are missing: expected ${dir}/dvd-rw-0.1.6.dvd.json. ` +
        'They are part of the repository (test/fixtures/python-dvd-rw); restore them from version control.',
    )
  }
  return dir
}

/** The venv's interpreter (may not exist). */
export function venvPython(): string {
  return join(repoRoot(), '.venv-python', 'bin', 'python')
}

/** Longest wait for another test process that is creating the venv (pip from PyPI). */
const VENV_WAIT_MS = 10 * 60_000

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms))
}

/** Whether a process with this pid is alive (a lock whose owner died is taken over). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Runs `scripts/python-venv.sh` (idempotent, cached in `.venv-python/`) under a lock, so that test
 * files running in parallel create the venv once. Rejects with the script's output when it fails.
 */
async function createVenv(): Promise<void> {
  const root = repoRoot()
  const lock = join(root, '.venv-python.lock')
  const deadline = Date.now() + VENV_WAIT_MS
  for (;;) {
    try {
      mkdirSync(lock)
      writeFileSync(join(lock, 'pid'), String(process.pid))
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const owner = Number(readFileSyncOr(join(lock, 'pid')))
      if (owner > 0 && !alive(owner)) rmSync(lock, { recursive: true, force: true })
      else if (Date.now() > deadline)
        throw new Error(`${lock} is held by process ${owner}; remove it if stale`)
      else await sleep(200)
    }
  }
  try {
    const run = spawnSync('bash', [join(root, 'scripts', 'python-venv.sh')], {
      cwd: root,
      encoding: 'utf8',
      timeout: VENV_WAIT_MS,
    })
    if (run.status !== 0) {
      throw new Error(
        `scripts/python-venv.sh failed (exit ${run.status ?? run.signal}); the Python interop tests need ` +
          `it (DVD_SKIP_PYTHON=1 skips them):\n${run.stderr}${run.stdout}`,
      )
    }
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

function readFileSyncOr(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

/**
 * Makes the Python interop tests ready: creates the venv when `python3` exists (cached between
 * runs). Resolves with why they must be skipped instead (no `python3`, or `DVD_SKIP_PYTHON=1`), or
 * `undefined` when the venv is ready. A failing installation rejects: it is a failure, not a skip.
 */
export async function preparePython(): Promise<string | undefined> {
  if (process.env.DVD_SKIP_PYTHON === '1') return 'DVD_SKIP_PYTHON=1 is set'
  const python = process.env.PYTHON ?? 'python3'
  const probe = spawnSync(python, ['--version'], { encoding: 'utf8' })
  if (probe.error || probe.status !== 0) {
    return `${python} was not found; install Python >= 3.11 to run them`
  }
  await createVenv()
  return undefined
}
export interface PythonRun {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `script` with the venv's Python and `args`; resolves with its exit code and output. */
export function runPython(script: string, args: string[], timeoutMs = 60_000): Promise<PythonRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(venvPython(), ['-c', script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', NO_PROXY: '*', no_proxy: '*' },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolvePromise({ code, stdout, stderr })
    })
  })
}

/** One call the Python client makes: method, URL, optional body and timeout (seconds). */
export interface PythonCall {
  method: string
  url: string
  body_b64?: string
  timeout?: number
}

/** What the Python client got for one call: a response, or the httpx exception it raised. */
export type PythonOutcome = { status: number; body_b64: string } | { error: string; message: string }

/**
 * An httpx client inside Python dvd-rw's `DVDLoader(path, match_on=[host, method, path, query,
 * scheme])`: records when the file does not exist, replays when it does (dvd-rw's only behaviour).
 * Arguments: the DVD path, the calls file (JSON list of {@link PythonCall}). Prints one JSON line:
 * the outcomes, in order.
 */
const CLIENT_SCRIPT = `
import base64, json, sys
import httpx
from dvd_rw.loader import DVDLoader
from dvd_rw.models import Matcher

path, calls_file = sys.argv[1], sys.argv[2]
with open(calls_file) as f:
    calls = json.load(f)
match_on = [Matcher.host, Matcher.method, Matcher.path, Matcher.query, Matcher.scheme]
out = []
with DVDLoader(path, match_on=match_on):
    with httpx.Client(trust_env=False) as client:
        for call in calls:
            body = base64.b64decode(call["body_b64"]) if call.get("body_b64") else None
            try:
                r = client.request(call["method"], call["url"], content=body, timeout=call.get("timeout", 5))
                out.append({"status": r.status_code, "body_b64": base64.b64encode(r.content).decode()})
            except Exception as e:
                name = type(e).__module__ + "." + type(e).__qualname__
                out.append({"error": name, "message": str(e)})
print(json.dumps(out))
`

/** Runs the calls through httpx under Python dvd-rw with the DVD at `dvdPath`. */
export async function pythonClient(
  dvdPath: string,
  calls: PythonCall[],
  callsFile: string,
): Promise<PythonOutcome[]> {
  writeFileSync(callsFile, JSON.stringify(calls))
  const run = await runPython(CLIENT_SCRIPT, [dvdPath, callsFile])
  if (run.code !== 0) {
    throw new Error(`the Python dvd-rw client failed (exit ${run.code}):\n${run.stderr}${run.stdout}`)
  }
  const lines = run.stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1] ?? '[]') as PythonOutcome[]
}

/** Loads each file given with Python dvd-rw's own loader; prints one JSON line: `true` per file loaded. */
const LOAD_SCRIPT = `
import json, sys
from dvd_rw.loader import DVDLoader

def loads(path):
    try:
        DVDLoader(path).load()
        return True
    except Exception:
        return False

print(json.dumps([loads(p) for p in sys.argv[1:]]))
`

/** Whether Python dvd-rw's `DVDLoader.load()` accepts each file. */
export async function pythonLoads(files: string[]): Promise<boolean[]> {
  const run = await runPython(LOAD_SCRIPT, files)
  if (run.code !== 0) throw new Error(`the Python dvd-rw loader failed (exit ${run.code}):\n${run.stderr}`)
  return JSON.parse(run.stdout.trim().split('\n').pop() ?? '[]') as boolean[]
}
