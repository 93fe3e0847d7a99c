/** A bounded buffer: past `capacity` items, each push drops the oldest. */
export class RingBuffer<T> {
  readonly capacity: number
  private readonly items: T[] = []
  private start = 0

  constructor (capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer')
    this.capacity = capacity
  }

  get size (): number { return this.items.length }

  push (item: T): void {
    if (this.items.length < this.capacity) {
      this.items.push(item)
      return
    }
    this.items[this.start] = item
    this.start = (this.start + 1) % this.capacity
  }

  /** Newest first, while `visit` returns true. */
  newestFirst (visit: (item: T) => boolean): void {
    const n = this.items.length
    for (let i = n - 1; i >= 0; i--) {
      if (!visit(this.items[(this.start + i) % n])) return
    }
  }

  /** Oldest first. */
  toArray (): T[] {
    return [...this.items.slice(this.start), ...this.items.slice(0, this.start)]
  }
}
