/**
 * The fenced code blocks of the user documentation, with where each one is, so a test can check
 * them and point at the line of the Markdown file that is wrong.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository's root (this file runs from dist/test/helpers/). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))

/**
 * The comment that, on the line just before a fence, leaves that block unchecked. It must say why:
 * `<!-- docs-check: skip (a fragment of a larger file) -->`.
 */
export const SKIP_MARKER = /^<!--\s*docs-check:\s*skip\s*\((.+)\)\s*-->$/

export interface CodeBlock {
  /** The Markdown file, relative to the repository. */
  file: string
  /** The line of the opening fence (1-based). */
  line: number
  /** The info string's first word: `ts`, `js`, `sh`, … ('' when the fence has none). */
  lang: string
  code: string
  /** Why the block is not checked, when the skip marker precedes it. */
  skipped?: string
}

/** The documents a user reads: README.md, CONTRIBUTING.md and docs/*.md (not the generated docs/api). */
export function userDocs(): string[] {
  const docs = readdirSync(join(repoRoot, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => join('docs', name))
  return ['README.md', 'CONTRIBUTING.md', ...docs].filter((file) => existsSync(join(repoRoot, file)))
}

/** A document's text with LF line ends (a Windows checkout may have turned them into CRLF). */
export function readDoc(file: string): string {
  return readFileSync(join(repoRoot, file), 'utf8').replace(/\r\n/g, '\n')
}

/** Every fenced block (``` or ~~~) of a Markdown file, in order. */
export function codeBlocks(file: string): CodeBlock[] {
  const lines = readDoc(file).split('\n')
  const blocks: CodeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!)
    if (!open) continue
    const [, indent, fence, lang] = open
    const body: string[] = []
    let j = i + 1
    while (j < lines.length && !lines[j]!.trimStart().startsWith(fence!)) {
      body.push(lines[j]!.startsWith(indent!) ? lines[j]!.slice(indent!.length) : lines[j]!)
      j++
    }
    const skip = SKIP_MARKER.exec(lines[i - 1]?.trim() ?? '')
    blocks.push({
      file: relative(repoRoot, join(repoRoot, file)),
      line: i + 1,
      lang: lang!.toLowerCase(),
      code: `${body.join('\n')}\n`,
      ...(skip ? { skipped: skip[1]! } : {}),
    })
    i = j
  }
  return blocks
}
