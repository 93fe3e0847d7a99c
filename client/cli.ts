#!/usr/bin/env node
// The entra-mcp-client program: a separate process from the service, so it reads its own
// environment here (config/ is the service's reader) and hands it to run().
import { programName, run } from './run.ts'
import { systemBrowser } from './auth/browser.ts'

const env = { ...process.env }
const code = await run(process.argv.slice(2), {
  env,
  stdout: process.stdout,
  stderr: process.stderr,
  openUrl: systemBrowser(env),
  program: programName(env, process.argv[1] ?? '', process.cwd())
})
process.exitCode = code
