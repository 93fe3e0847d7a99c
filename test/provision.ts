// `npm test` runs this first (pretest): the suite needs a Redis server on 127.0.0.1:6379, Debian's
// Chromium (browser tests) and docker-compose (the compose file is validated offline). When one is
// missing and this user may install packages (root, or passwordless sudo), it is installed with apt
// and Redis is started; otherwise the run stops here with the one command to type. The tests that
// need these things still fail, never skip, when they are missing after this step.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createConnection } from 'node:net'

const CHROMIUM = '/usr/bin/chromium'
const REDIS_START = ['redis-server', '--daemonize', 'yes', '--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no']

const onPath = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0

function redisAnswers (): Promise<boolean> {
  return new Promise(resolve => {
    const socket = createConnection({ host: '127.0.0.1', port: 6379 })
    const done = (ok: boolean) => { socket.destroy(); resolve(ok) }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', data => done(data.toString().startsWith('+PONG')))
  })
}

/** How this user runs a command as root: directly, through passwordless sudo, or not at all. */
function asRoot (): string[] | null {
  if (process.getuid?.() === 0) return []
  if (onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) return ['sudo', '-n']
  return null
}

function run (prefix: string[], command: string[], env: NodeJS.ProcessEnv = process.env) {
  const [file, ...args] = [...prefix, ...command]
  execFileSync(file, args, { stdio: ['ignore', 'ignore', 'inherit'], env })
}

const packages: string[] = []
if (!onPath('redis-server')) packages.push('redis-server')
if (!existsSync(CHROMIUM)) packages.push('chromium')
if (!onPath('docker-compose')) packages.push('docker-compose')
const redisUp = await redisAnswers()

if (packages.length > 0 || !redisUp) {
  const root = asRoot()
  const steps = [
    ...(packages.length > 0 ? [`apt-get update && apt-get install -y ${packages.join(' ')}`] : []),
    ...(redisUp ? [] : [REDIS_START.map(a => a === '' ? '""' : a).join(' ')])
  ]
  if (root === null) {
    console.error(`The test suite needs ${[...packages, ...(redisUp ? [] : ['a running Redis on 127.0.0.1:6379'])].join(', ')}. Run as root, then npm test again:\n  sudo sh -c '${steps.join(' && ')}'`)
    process.exit(1)
  }
  if (packages.length > 0) {
    console.error(`npm test: installing ${packages.join(', ')} with apt-get`)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    run(root, ['apt-get', 'update', '-qq'], env)
    run(root, ['apt-get', 'install', '-y', '-qq', ...packages], env)
  }
  if (!await redisAnswers()) {
    console.error('npm test: starting redis-server on 127.0.0.1:6379 (no persistence)')
    run(root, REDIS_START)
    for (let i = 0; i < 50 && !await redisAnswers(); i++) await new Promise(resolve => setTimeout(resolve, 100))
    if (!await redisAnswers()) {
      console.error('npm test: redis-server was started but does not answer on 127.0.0.1:6379')
      process.exit(1)
    }
  }
}

// tap's Test class is built with the plugins package.json names. A fresh `npm ci` has the stock build,
// which still holds @tapjs/typescript (ts-node): on the first run it compiled .ts files outside the
// project as CommonJS (test/mcp/catalog.test.ts failed once in every fresh clone), and tap rebuilt itself
// only for the runs after. Rebuild now when the stock build is there (once per install, 10-20 s).
const BUILT_TEST_CLASS = new URL('../node_modules/@tapjs/test/test-built/dist/esm/index.js', import.meta.url)
if (existsSync(BUILT_TEST_CLASS) && readFileSync(BUILT_TEST_CLASS, 'utf8').includes('"@tapjs/typescript"')) {
  console.error('npm test: building tap with this project\'s plugins (once after an install)')
  execFileSync(process.execPath, [fileURLToPath(new URL('../node_modules/tap/dist/esm/run.mjs', import.meta.url)), 'build'], { stdio: ['ignore', 'ignore', 'inherit'] })
}
