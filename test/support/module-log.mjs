// Preloaded (`--import`) in a child process to list the modules it loads: every resolved module URL is
// appended to the file named by MODULE_LOG (test/plugins/tracing-off.test.ts). Not a test file.
import { register } from 'node:module'

register('./module-log-hooks.mjs', import.meta.url, { data: { file: process.env.MODULE_LOG } })
