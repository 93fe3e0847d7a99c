// The structure of the source tree, checked (issue #13): file and function sizes, and which
// folder may import from which. Reads the sources with the TypeScript parser; no app is built.
import t from 'tap'
import ts from 'typescript'
import { readdirSync, readFileSync } from 'node:fs'
import { posix } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TOP_FILES = ['app.ts', 'server.ts', 'logging.ts']
const TOP_DIRS = ['config', 'plugins', 'routes', 'mcp', 'dev-idp', 'client']

const MAX_FILE_LINES = 350
const MAX_FUNCTION_LINES = 60

/**
 * Functions allowed over MAX_FUNCTION_LINES, as `file:function` -> why. Keep it empty or nearly:
 * an entry needs a reason a reader accepts, and is removed once the function is split.
 */
const LONG_FUNCTION_ALLOWLIST: Record<string, string> = {}

function walk (dir: string): string[] {
  return readdirSync(posix.join(ROOT, dir), { withFileTypes: true }).flatMap(entry => {
    const path = posix.join(dir, entry.name)
    if (entry.isDirectory()) return walk(path)
    return entry.isFile() && entry.name.endsWith('.ts') ? [path] : []
  })
}

const files = [...TOP_FILES, ...TOP_DIRS.flatMap(walk)].sort()
const sources = new Map(files.map(file => {
  const text = readFileSync(posix.join(ROOT, file), 'utf8')
  return [file, { text, ast: ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true) }]
}))

/** Lines from a function's first token to its end (the measure of the size scan). */
function longFunctions (file: string, sf: ts.SourceFile): Array<{ key: string, lines: number }> {
  const found: Array<{ key: string, lines: number }> = []
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart()).line
      const last = sf.getLineAndCharacterOfPosition(node.end).line
      const lines = last - first + 1
      if (lines > MAX_FUNCTION_LINES) found.push({ key: `${file}:${functionName(node)}`, lines })
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return found
}

function functionName (node: ts.SignatureDeclaration): string {
  if (node.name !== undefined) return node.name.getText()
  const parent = node.parent
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) return parent.name.getText()
  if (ts.isCallExpression(parent)) return `arg of ${parent.expression.getText().slice(0, 30)}`
  return '(anonymous)'
}

interface ProjectImport { file: string, specifier: string, target: string, typeOnly: boolean, /** `import()`: loaded when the code runs, not with the file. */ dynamic?: boolean }

/** Relative imports and re-exports of a file, resolved to paths from the project root. */
function projectImports (file: string, sf: ts.SourceFile): ProjectImport[] {
  const found: ProjectImport[] = []
  const add = (specifier: ts.Expression | undefined, typeOnly: boolean, dynamic = false) => {
    if (specifier === undefined || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) return
    const target = posix.normalize(posix.join(posix.dirname(file), specifier.text))
    found.push({ file, specifier: specifier.text, target, typeOnly, ...(dynamic ? { dynamic } : {}) })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node.moduleSpecifier, node.importClause?.isTypeOnly === true)
    else if (ts.isExportDeclaration(node)) add(node.moduleSpecifier, node.isTypeOnly)
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0], false, true)
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal, true)
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return found
}

const under = (path: string, folder: string) => path.startsWith(`${folder}/`)
const isStore = (path: string) => path === 'plugins/store.ts' || under(path, 'plugins/store')

/** Who may import what (relative specifiers only; packages are not checked here). */
const IMPORT_RULES: Array<{ rule: string, applies: (file: string) => boolean, allowed: (imp: ProjectImport) => boolean }> = [
  {
    rule: 'config/ imports from the project only config/ and plugins/shared/',
    applies: file => under(file, 'config'),
    allowed: ({ target }) => under(target, 'config') || under(target, 'plugins/shared')
  },
  {
    rule: 'plugins/shared/ imports nothing from the project outside plugins/shared/ except types (`import type`)',
    applies: file => under(file, 'plugins/shared'),
    allowed: ({ target, typeOnly }) => typeOnly || under(target, 'plugins/shared')
  },
  {
    rule: 'routes/ never import the store (the grants model and the other models own the records)',
    applies: file => under(file, 'routes'),
    allowed: ({ target }) => !isStore(target)
  },
  {
    rule: 'plugins/ never import from routes/ or mcp/',
    applies: file => under(file, 'plugins'),
    allowed: ({ target }) => !under(target, 'routes') && !under(target, 'mcp')
  },
  {
    rule: 'mcp/ never imports the store',
    applies: file => under(file, 'mcp'),
    allowed: ({ target }) => !isStore(target)
  },
  {
    // With tracing off no OpenTelemetry module may load: app.ts and server.ts import() these when it is on.
    rule: 'plugins/tracing.ts and plugins/tracing/ are imported statically only by each other, else with import() or as types',
    applies: file => file !== 'plugins/tracing.ts' && !under(file, 'plugins/tracing'),
    allowed: ({ target, typeOnly, dynamic }) => typeOnly || dynamic === true || (target !== 'plugins/tracing.ts' && !under(target, 'plugins/tracing'))
  }
]

t.test('the scan sees the source tree', async t => {
  t.ok(files.length > 100, `${files.length} source files found`)
  t.ok(files.includes('app.ts') && files.some(f => under(f, 'plugins/oauth-proxy')), 'app.ts and the plugin folders are scanned')
  const imports = [...sources].flatMap(([file, { ast }]) => projectImports(file, ast))
  t.ok(imports.some(i => i.file === 'app.ts' && i.target === 'plugins/oauth-proxy.ts'), 'relative imports are found and resolved')
  t.ok(imports.some(i => i.typeOnly), 'type-only imports are told apart')
})

t.test(`no source file is over ${MAX_FILE_LINES} lines`, async t => {
  const long = [...sources]
    .map(([file, { text }]) => ({ file, lines: text.split('\n').length }))
    .filter(({ lines }) => lines > MAX_FILE_LINES)
    .map(({ file, lines }) => `${file}: ${lines} lines`)
  t.strictSame(long, [], 'files over the limit (split them)')
})

t.test(`no function is over ${MAX_FUNCTION_LINES} lines unless the allowlist says why`, async t => {
  const long = [...sources].flatMap(([file, { ast }]) => longFunctions(file, ast))
  const unexplained = long.filter(({ key }) => LONG_FUNCTION_ALLOWLIST[key] === undefined).map(({ key, lines }) => `${key}: ${lines} lines`)
  t.strictSame(unexplained, [], 'long functions not in the allowlist (split them, or allowlist with a reason)')
  const stale = Object.keys(LONG_FUNCTION_ALLOWLIST).filter(key => !long.some(l => l.key === key))
  t.strictSame(stale, [], 'allowlist entries no longer long (remove them)')
})

t.test('imports follow the direction rules', async t => {
  const imports = [...sources].flatMap(([file, { ast }]) => projectImports(file, ast))
  for (const { rule, applies, allowed } of IMPORT_RULES) {
    const offending = imports
      .filter(imp => applies(imp.file) && !allowed(imp))
      .map(imp => `${imp.file} imports${imp.typeOnly ? ' type' : ''} '${imp.specifier}'`)
    t.strictSame(offending, [], rule)
  }
})
