// Throttles for warnings that would otherwise repeat on every request (Redis away, a full server).

/**
 * `() => boolean` that says yes at most once per `intervalMs`: for warnings that would
 * otherwise repeat on every request (Redis away). `now` is injectable for tests.
 */
export function createThrottle (intervalMs: number, now: () => number = Date.now): () => boolean {
  let last = -Infinity
  return () => {
    const t = now()
    if (t - last < intervalMs) return false
    last = t
    return true
  }
}

/**
 * createThrottle that also counts: each call returns 0 while it stays quiet, and when it speaks,
 * how many calls there were since it last spoke (this one included), for a line like
 * "… (37 times in the last minute)".
 */
export function createCountingThrottle (intervalMs: number, now: () => number = Date.now): () => number {
  const speak = createThrottle(intervalMs, now)
  let count = 0
  return () => {
    count++
    if (!speak()) return 0
    const said = count
    count = 0
    return said
  }
}
