// Preloaded (`--require`, package.json's tap "node-arg") in every test file's process, before anything else
// (issue #13: a faster `npm test`, and no test process stuck at startup).
//
// 1. Stops tap's @tapjs/processinfo from registering. tap 21 adds `--import=@tapjs/processinfo/import` to
//    every test process, with no option to leave it out even when coverage is disabled (as here). On Node 20
//    it runs every module load through a module-hooks thread, re-reads and measures each loaded file and
//    sends it over a MessageChannel, writes .tap/processinfo at exit, and injects itself through
//    NODE_OPTIONS into every child node process a test starts (servers, tsc). Nothing reads what it records
//    when coverage is off (only coverage and `tap --changed` do). Measured: about 1 s of CPU per test file,
//    more for files that start servers. A second hooks chain with a MessageChannel on Node 20 is also the
//    setup of the known hooks deadlock (nodejs/node#50948). Should tap change how it loads processinfo,
//    this stops matching and the tests still run, only slower.
// 2. Registers test/support/ts-hooks.mjs, which loads the project's .ts files (see there why not tsx).
const Module = require('node:module')
const { pathToFileURL } = require('node:url')
const { join } = require('node:path')

// processinfo's import script calls getProcessInfo() (which registers its require hook, its child-process
// environment and its exit writer unless this global singleton exists) and then Module.register().
globalThis[Symbol.for('@tapjs/processinfo.ProcessInfoNodeData')] ??= { files: [] }
const register = Module.register
Module.register = function registerUnlessProcessinfo (specifier, ...rest) {
  if (String(specifier).includes('/@tapjs/processinfo/')) return
  return register.call(this, specifier, ...rest)
}

register(pathToFileURL(join(__dirname, 'ts-hooks.mjs')))
