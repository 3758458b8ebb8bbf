/**
 * The documentation works as a user would use it: every TypeScript block type-checks against the
 * built package (imported as `dvd-rw`, the way a project that installed it would), every
 * JavaScript block parses on this Node as the module kind its imports say, every JSON block
 * parses, and every relative link leads to a file and heading that exist. A block is left out
 * only by the skip marker with a reason, on the line before its fence.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import test from 'ava'
import ts from 'typescript'
import { type CodeBlock, codeBlocks, readDoc, repoRoot, userDocs } from './helpers/markdown.js'

const blocks = userDocs().flatMap(codeBlocks)
const checked = (langs: string[]) => blocks.filter((b) => langs.includes(b.lang) && !b.skipped)
const where = (b: CodeBlock) => `${b.file}:${b.line}`

/** The languages a block may be tagged with; the first three kinds are checked. */
const TYPESCRIPT = ['ts', 'typescript']
const JAVASCRIPT = ['js', 'javascript', 'mjs', 'cjs']
const JSON_LANGS = ['json']
const UNCHECKED = ['sh', 'text', 'mermaid', 'gitattributes', 'yaml', 'diff']

/**
 * A scratch folder inside the repository, so that `import 'dvd-rw'` resolves to this package
 * through its own `exports` (a package may import itself by name), i.e. to dist/lib's .d.ts.
 */
function scratch(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(repoRoot, 'dist', 'doc-blocks-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const scratchName = (b: CodeBlock) => `${b.file.replace(/[^A-Za-z0-9]/g, '_')}_L${b.line}`

test('every code block of the documentation says its language', (t) => {
  const known = [...TYPESCRIPT, ...JAVASCRIPT, ...JSON_LANGS, ...UNCHECKED]
  const unknown = blocks
    .filter((b) => !known.includes(b.lang))
    .map((b) => `${where(b)} (${b.lang || 'none'})`)
  t.deepEqual(unknown, [], `tag each fence with one of: ${known.join(', ')}`)
})

test('every TypeScript block type-checks against the built package', (t) => {
  const dir = scratch(t)
  const files = new Map<string, CodeBlock>()
  for (const b of checked(TYPESCRIPT)) {
    const file = join(dir, `${scratchName(b)}.ts`)
    writeFileSync(file, b.code)
    // TypeScript names files with forward slashes, also on Windows.
    files.set(file.replaceAll('\\', '/'), b)
  }
  t.true(files.size > 0, 'the documentation has TypeScript blocks')
  const config = ts.readConfigFile(join(repoRoot, 'tsconfig.json'), ts.sys.readFile)
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, repoRoot)
  const program = ts.createProgram([...files.keys()], {
    ...options,
    noEmit: true,
    // A block is a module even without imports, so top-level await and names never clash.
    moduleDetection: ts.ModuleDetectionKind.Force,
    noUnusedLocals: false,
  })
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    const block = d.file && files.get(d.file.fileName)
    if (!d.file || !block || d.start === undefined) return `${d.file?.fileName ?? '(project)'}: ${text}`
    const { line } = d.file.getLineAndCharacterOfPosition(d.start)
    return `${block.file}:${block.line + 1 + line}: ${text}`
  })
  t.deepEqual(problems, [])
})

test('every JavaScript block parses on this Node, as ES module or CommonJS by its imports', (t) => {
  const dir = scratch(t)
  const blocksJs = checked(JAVASCRIPT)
  t.true(blocksJs.length > 0, 'the documentation has JavaScript blocks')
  const problems: string[] = []
  for (const b of blocksJs) {
    const commonJs = b.lang === 'cjs' || (/\brequire\(/.test(b.code) && !/^\s*import\s/m.test(b.code))
    const file = join(dir, `${scratchName(b)}.${commonJs ? 'cjs' : 'mjs'}`)
    writeFileSync(file, b.code)
    const result = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' })
    if (result.status !== 0) {
      const message = result.stderr.split('\n').find((l) => /Error/.test(l)) ?? result.stderr
      problems.push(`${where(b)} (${commonJs ? 'CommonJS' : 'ES module'}): ${message.trim()}`)
    }
  }
  t.deepEqual(problems, [], `on Node ${process.version}`)
})

test('every JSON block parses', (t) => {
  const problems: string[] = []
  for (const b of checked(JSON_LANGS)) {
    try {
      JSON.parse(b.code)
    } catch (error) {
      problems.push(`${where(b)}: ${(error as Error).message}`)
    }
  }
  t.deepEqual(problems, [])
})

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')

test('every relative link of the documentation points to a file and heading that exist', (t) => {
  const problems: string[] = []
  for (const doc of userDocs()) {
    const text = readDoc(doc).replace(/^(`{3,}|~{3,})[\s\S]*?^\1/gm, '')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!)) continue
      const [path, anchor] = target!.split('#') as [string, string | undefined]
      const file = path ? join(dirname(doc), path) : doc
      if (!existsSync(join(repoRoot, file))) {
        problems.push(`${doc}: ${target} (no such file)`)
        continue
      }
      if (anchor === undefined || !file.endsWith('.md')) continue
      const headings = [...readDoc(file).matchAll(/^#{1,6} (.+)$/gm)]
      if (!headings.some(([, h]) => anchorOf(h!) === anchor))
        problems.push(`${doc}: ${target} (no such heading)`)
    }
  }
  t.deepEqual(problems, [])
})
