// Module hooks that let the test processes import the project's TypeScript files (issue #13: a faster
// `npm test`). Registered by test/support/test-process.cjs, which tap preloads in every test file.
//
// Why not tsx (what `npm run dev` and the spawned servers use): measured on Node 20, tsx's hooks add about
// 1 s of CPU to the start of every test file (its resolver and loader run for every module, node_modules
// included); this hook only loads the project's own .ts files and leaves everything else to Node. A file
// is compiled with the TypeScript compiler's transpileModule (the emit `npm run build` uses, without type
// checking: `npm run typecheck` does that) and the output is kept in node_modules/.cache/emg-test-js,
// named by a hash of the path, the source, tsconfig.json and the compiler version, so each file is
// compiled once per content and new or changed files need no extra step. Import specifiers keep their .ts extension and
// module URLs stay the source files' own, so import.meta.url and stack traces name the real files.
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CACHE = join(ROOT, 'node_modules', '.cache', 'emg-test-js')
const requireHere = createRequire(import.meta.url)
const COMPILER_VERSION = JSON.parse(readFileSync(requireHere.resolve('typescript/package.json'), 'utf8')).version
/** Part of every cache key: raise it when compile() changes, so nothing compiled before is used. */
const HOOK_VERSION = 2
/** Part of every cache key, so a change to the compiler options compiles everything again. */
const TSCONFIG = readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')

/** Loaded on the first cache miss only: most test runs compile nothing. */
let ts
/** tsconfig.json's options, as tsc reads them, for an ES module emit with an inline source map. */
let compilerOptions

function compile (source, filename) {
  ts ??= requireHere('typescript')
  if (compilerOptions === undefined) {
    const configPath = join(ROOT, 'tsconfig.json')
    const { config } = ts.readConfigFile(configPath, ts.sys.readFile)
    const parsed = ts.parseJsonConfigFileContent(config, ts.sys, ROOT, undefined, configPath)
    compilerOptions = {
      ...parsed.options,
      // package.json says "type": "module": every .ts file is an ES module (NodeNext would need that
      // decided per file, which transpileModule cannot do).
      module: ts.ModuleKind.ESNext,
      // Specifiers keep their .ts extension so the imported files come through this hook too.
      rewriteRelativeImportExtensions: false,
      sourceMap: false,
      // Stack traces of a failing test name the .ts lines (tap runs tests with --enable-source-maps);
      // the map without the sources is enough for that and cheaper to parse.
      inlineSourceMap: true,
      inlineSources: false,
      noEmit: false,
      declaration: false,
      // tsconfig's outDir (dist) would make the map's sources relative to dist/: test/x.ts would be
      // mapped to test/test/x.ts. Without it they name the file beside the module, which they are.
      outDir: undefined
    }
  }
  return ts.transpileModule(source, { compilerOptions, fileName: filename }).outputText
}

function cached (source, filename) {
  const key = createHash('sha256').update(`${HOOK_VERSION}\0${COMPILER_VERSION}\0${TSCONFIG}\0${filename}\0`).update(source).digest('hex')
  const file = join(CACHE, `${key.slice(0, 32)}.js`)
  try {
    return readFileSync(file, 'utf8')
  } catch {}
  const output = compile(source, filename)
  // Two test files may compile the same module at once: each writes its own file and renames it into
  // place, so a reader never sees half of one.
  mkdirSync(CACHE, { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, output)
  renameSync(tmp, file)
  return output
}

export async function load (url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.ts') && !url.includes('/node_modules/')) {
    const filename = fileURLToPath(url)
    const source = readFileSync(filename, 'utf8')
    return { format: 'module', source: cached(source, filename), shortCircuit: true }
  }
  return nextLoad(url, context)
}
