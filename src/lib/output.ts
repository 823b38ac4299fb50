// Output helpers: data to stdout, everything else to stderr. Colour and spinners only on a
// TTY; NO_COLOR and FORCE_COLOR honoured. Commands receive an Output so tests can pass buffers.
// A reader that goes away (`mesh tap | head -1`: EPIPE) is not an error: `closed` fires, later
// writes are dropped, and commands that stream stop and end with exit 0.
import {Chalk, type ChalkInstance} from 'chalk'

export interface Writer {
  write(chunk: string): unknown
  isTTY?: boolean
}

/** Why a command stopped early: the reader of its stdout went away. Not a failure (exit 0). */
export class OutputClosed extends Error {
  constructor() {
    super('the reader of stdout went away')
    this.name = 'OutputClosed'
  }
}

const watched = new WeakMap<object, AbortController>()

/**
 * A signal that fires when `stream` fails because its reader is gone (EPIPE, or a write after
 * that). One listener per stream, however many Outputs share it.
 */
export function closedSignal(stream: Writer): AbortSignal {
  let ctl = watched.get(stream)
  if (!ctl) {
    const c = new AbortController()
    ctl = c
    watched.set(stream, c)
    const emitter = stream as Writer & {on?: (event: string, listener: (err: NodeJS.ErrnoException) => void) => unknown}
    if (typeof emitter.on === 'function') {
      emitter.on('error', (err) => {
        if (err?.code === 'EPIPE' || err?.code === 'ERR_STREAM_DESTROYED') c.abort(new OutputClosed())
      })
    }
  }
  return ctl.signal
}

/** `raw`, except that nothing is written once `closed` fired. */
function guarded(raw: Writer, closed: AbortSignal): Writer {
  return {
    write: (chunk: string) => (closed.aborted ? false : raw.write(chunk)),
    get isTTY() {
      return raw.isTTY
    },
  }
}

export interface OutputOptions {
  stdout?: Writer
  stderr?: Writer
  env?: NodeJS.ProcessEnv
}

/** Colour level for a stream, following the NO_COLOR / FORCE_COLOR conventions. */
export function colorLevel(stream: Writer, env: NodeJS.ProcessEnv = process.env): 0 | 1 | 2 | 3 {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0
  const force = env.FORCE_COLOR
  if (force !== undefined) {
    if (force === '0' || force === 'false') return 0
    if (force === '2') return 2
    if (force === '3') return 3
    return 1
  }
  if (!stream.isTTY) return 0
  if (env.TERM === 'dumb') return 0
  return 1
}

/**
 * Text that came from the network (metric labels, pod-reported values) made safe to print on a
 * terminal: control characters (C0, DEL, C1, and the bidirectional overrides) shown as `\u{..}`,
 * and at most `max` characters (an ellipsis says it was cut). Never for data on stdout in JSON.
 */
export function printable(s: string, max = 300): string {
  // eslint-disable-next-line no-control-regex
  const v = s.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`)
  return v.length > max ? `${v.slice(0, max - 3)}...` : v
}

export class Output {
  readonly stdout: Writer
  readonly stderr: Writer
  /** Fires when stdout's reader went away: streaming commands stop, and exit 0. */
  readonly closed: AbortSignal
  /** Colours for data on stdout. */
  readonly color: ChalkInstance
  /** Colours for diagnostics on stderr. */
  readonly errColor: ChalkInstance
  readonly env: NodeJS.ProcessEnv

  constructor(options: OutputOptions = {}) {
    const stdout = options.stdout ?? process.stdout
    const stderr = options.stderr ?? process.stderr
    this.closed = closedSignal(stdout)
    this.stdout = guarded(stdout, this.closed)
    this.stderr = guarded(stderr, closedSignal(stderr))
    this.env = options.env ?? process.env
    this.color = new Chalk({level: colorLevel(this.stdout, this.env)})
    this.errColor = new Chalk({level: colorLevel(this.stderr, this.env)})
  }

  get stdoutIsTTY(): boolean {
    return Boolean(this.stdout.isTTY)
  }

  /** Data: one line to stdout. */
  data(line = ''): void {
    this.stdout.write(line.endsWith('\n') ? line : line + '\n')
  }

  /** Data: a JSON document to stdout, pretty-printed, with a final newline. */
  json(value: unknown): void {
    this.stdout.write(JSON.stringify(value, null, 2) + '\n')
  }

  /** Diagnostics: one line to stderr. */
  info(line = ''): void {
    this.stderr.write(line.endsWith('\n') ? line : line + '\n')
  }

  warn(line: string): void {
    this.info(`${this.errColor.yellow('‼')} ${line}`)
  }

  success(line: string): void {
    this.info(`${this.errColor.green('√')} ${line}`)
  }

  /**
   * A table via cli-table3, without borders or ANSI codes when stdout is not a TTY (the
   * borderless layout is the kubectl-like one scripts and CI logs read best).
   */
  async table(head: string[], rows: (string | number)[][]): Promise<string> {
    const {default: Table} = await import('cli-table3')
    const plain = colorLevel(this.stdout, this.env) === 0
    const table = new Table({
      head: plain ? head : head.map((h) => this.color.bold(h)),
      style: {head: [], border: [], 'padding-left': 0, 'padding-right': 3},
      chars: {
        top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
        bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
        left: '', 'left-mid': '', mid: '', 'mid-mid': '',
        right: '', 'right-mid': '', middle: '',
      },
    })
    for (const row of rows) table.push(row.map(String))
    return table.toString().split('\n').map((l) => l.trimEnd()).join('\n') + '\n'
  }

  /** A spinner on stderr, only when stderr is a TTY; otherwise one line at start and end. */
  spinner(text: string): Spinner {
    return new Spinner(this, text)
  }
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

export class Spinner {
  private timer: NodeJS.Timeout | undefined
  private frame = 0
  private readonly tty: boolean

  constructor(private readonly out: Output, private text: string) {
    this.tty = Boolean(out.stderr.isTTY) && colorLevel(out.stderr, out.env) > 0
    if (this.tty) {
      this.timer = setInterval(() => this.render(), 80)
      this.timer.unref()
      this.render()
    } else {
      out.info(`${text}...`)
    }
  }

  update(text: string): void {
    this.text = text
    if (!this.tty) this.out.info(`${text}...`)
  }

  stop(final?: string): void {
    if (this.timer) clearInterval(this.timer)
    if (this.tty) this.out.stderr.write('\r\x1b[2K')
    if (final) this.out.info(final)
  }

  private render(): void {
    this.out.stderr.write(`\r\x1b[2K${this.out.errColor.cyan(FRAMES[this.frame++ % FRAMES.length])} ${this.text}`)
  }
}
