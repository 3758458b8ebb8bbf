#!/usr/bin/env node
// The CommonJS build (dist/cjs/), for consumers that `require` the package: Jest's default module
// loader cannot load an ES module. Each file of lib/ is transpiled on its own by the TypeScript
// compiler the project already uses (types were checked by the ESM build), into the same layout one
// folder deep, so relative paths such as the addon's `../../native/index.js` hold in both builds.
// `import.meta.url`, which CommonJS lacks, becomes the file's own URL.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const source = join(root, 'lib')
const out = join(root, 'dist', 'cjs')

function* tsFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* tsFiles(path)
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path
  }
}

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  sourceMap: false,
}
const IMPORT_META_URL = /\bimport\.meta\.url\b/g
const OWN_URL = "require('node:url').pathToFileURL(__filename).href"

rmSync(out, { recursive: true, force: true })
let count = 0
for (const file of tsFiles(source)) {
  const { outputText, diagnostics } = ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions,
    fileName: file,
    reportDiagnostics: true,
  })
  if (diagnostics?.length) {
    const text = ts.formatDiagnostics(diagnostics, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => root,
      getNewLine: () => '\n',
    })
    throw new Error(`build-cjs: ${relative(root, file)}:\n${text}`)
  }
  const target = join(out, relative(source, file)).replace(/\.ts$/, '.js')
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, outputText.replace(IMPORT_META_URL, OWN_URL))
  count++
}
// The package is "type": "module"; this folder's .js files are CommonJS.
writeFileSync(join(out, 'package.json'), '{ "type": "commonjs" }\n')
console.log(`build-cjs: ${count} files in ${relative(root, out)}`)
