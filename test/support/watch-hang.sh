#!/usr/bin/env bash
# Issue #13's intermittent hang: runs one test file over and over the way tap starts it, and when a run
# stays running past 75 s, writes every thread's native stack (gdb) before killing it. A main thread in
# a futex/Atomics wait points at the module-hooks thread (the Node 20 deadlock family); one in
# epoll_wait is an idle event loop waiting on a promise. Not run by CI.
#   bash test/support/watch-hang.sh test/client/cli-protocol.test.ts 20   (COLD=1: empty the compile cache each run)
# Results in .tap/hang/ (summary, run-N.out, gdb-N.txt).
cd "$(dirname "$0")/../.." || exit 1
file=${1:?a test file}
runs=${2:-20}
out=.tap/hang
mkdir -p "$out"
for i in $(seq 1 "$runs"); do
  [ -n "${COLD:-}" ] && rm -rf node_modules/.cache/emg-test-js
  start=$(date +%s)
  node --enable-source-maps --import="file://$PWD/node_modules/@tapjs/processinfo/dist/esm/import.mjs" --require=./test/support/test-process.cjs "$file" > "$out/run-$i.out" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if [ $(( $(date +%s) - start )) -gt 75 ]; then
      echo "run $i: HUNG (pid $pid), $(wc -l < "$out/run-$i.out") lines of output" >> "$out/summary"
      gdb -p "$pid" -batch -ex "thread apply all bt" > "$out/gdb-$i.txt" 2>&1
      kill -9 "$pid"
      break
    fi
  done
  wait "$pid" 2>/dev/null
  echo "run $i: exit $? after $(( $(date +%s) - start )) s" >> "$out/summary"
done
cat "$out/summary"
