// What a journey step saw: every command it ran (mesh, kubectl, a client in a pod) with its exit
// code, stdout and stderr. A failing step prints its transcript, so the failure can be read
// without a rerun.
export interface Seen {
  what: string
  code: number | null
  stdout: string
  stderr: string
  ms: number
}

const MAX_ENTRIES = 40
const MAX_CHARS = 3000

function clip(s: string): string {
  if (s.length <= MAX_CHARS) return s
  const half = MAX_CHARS / 2
  return `${s.slice(0, half)}\n... (${s.length - MAX_CHARS} chars cut) ...\n${s.slice(-half)}`
}

class Transcript {
  private entries: Seen[] = []
  private dropped = 0

  /** Starts a new step: forgets the previous one's commands. */
  reset(): void {
    this.entries = []
    this.dropped = 0
  }

  record(e: Seen): void {
    this.entries.push(e)
    if (this.entries.length > MAX_ENTRIES) {
      this.entries.shift()
      this.dropped++
    }
  }

  /** Times `fn` and records what it returned (as {code, stdout, stderr}) or threw. */
  async track<T extends {code: number | null; stdout: string; stderr: string}>(what: string, fn: () => Promise<T>): Promise<T> {
    const t = Date.now()
    try {
      const r = await fn()
      this.record({what, code: r.code, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t})
      return r
    } catch (err) {
      this.record({what, code: null, stdout: '', stderr: `threw: ${(err as Error).message}`, ms: Date.now() - t})
      throw err
    }
  }

  render(): string {
    if (this.entries.length === 0) return '(no commands in this step)'
    const head = this.dropped ? [`(${this.dropped} earlier commands not kept)`] : []
    return [...head, ...this.entries.map((e) => [
      `$ ${e.what}   # exit ${e.code ?? 'none'}, ${e.ms} ms`,
      e.stdout ? `--- stdout ---\n${clip(e.stdout.trimEnd())}` : '--- stdout: (empty) ---',
      e.stderr ? `--- stderr ---\n${clip(e.stderr.trimEnd())}` : '--- stderr: (empty) ---',
    ].join('\n'))].join('\n')
  }
}

export const transcript = new Transcript()
