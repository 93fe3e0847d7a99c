/**
 * `fn` remembered for the last `max` distinct string inputs (oldest forgotten first). For pure
 * functions of a token or header only, which the same caller sends again and again: the answer
 * for a string never changes. A call that throws is not remembered.
 */
export function memoizeBounded<T> (fn: (input: string) => T, max = 1000): (input: string) => T {
  const memo = new Map<string, T>()
  return (input: string) => {
    const known = memo.get(input)
    if (known !== undefined || memo.has(input)) return known as T
    const value = fn(input)
    if (memo.size >= max) memo.delete(memo.keys().next().value as string)
    memo.set(input, value)
    return value
  }
}
