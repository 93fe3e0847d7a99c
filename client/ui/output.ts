export interface Writer {
  write: (chunk: string) => unknown
}

/** Where a command writes: data on stdout (text, or one JSON document with --json), messages on stderr. */
export class Output {
  readonly json: boolean
  private readonly stdout: Writer
  private readonly stderr: Writer

  constructor (stdout: Writer, stderr: Writer, json: boolean) {
    this.stdout = stdout
    this.stderr = stderr
    this.json = json
  }

  /** A line of progress or advice for the person at the terminal. */
  info (line: string): void {
    this.stderr.write(line.endsWith('\n') ? line : line + '\n')
  }

  /** The command's result: `data` as JSON with --json, otherwise the human text. */
  result (data: unknown, human: () => string): void {
    if (this.json) {
      this.stdout.write(JSON.stringify(data, null, 2) + '\n')
    } else {
      const text = human()
      this.stdout.write(text.endsWith('\n') ? text : text + '\n')
    }
  }

  /** Text that is part of the output in both modes' human form (e.g. agent progress). */
  line (text: string): void {
    if (!this.json) this.stdout.write(text + '\n')
  }

  error (kind: string, message: string): void {
    if (this.json) this.stderr.write(JSON.stringify({ error: { kind, message } }) + '\n')
    else this.stderr.write(`Error: ${message}\n`)
  }
}
