// A real terminal for tests: a private tmux server (its own socket), windows running shell
// commands, the screen read back with capture-pane. Closing a window is what closing a terminal
// does to the programs in it: the tty goes away and they get SIGHUP.
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {eventually} from './eventually.js'

export class Tmux {
  readonly socket = `mesh-test-${randomBytes(4).toString('hex')}`
  private started = false

  /** Every window is a `columns` x `rows` terminal. */
  constructor(private readonly columns = 150, private readonly rows = 30) {}

  run(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], {encoding: 'utf8'})
  }

  /** A window named `name` running `command` (through sh -c). */
  window(name: string, command: string): void {
    if (!this.started) {
      // The session's first window is a bystander, so that the session outlives `name`.
      this.run('new-session', '-d', '-s', 't', '-n', 'idle', '-x', String(this.columns), '-y', String(this.rows), 'sleep 3600')
      this.started = true
    }
    this.run('new-window', '-d', '-t', 't:', '-n', name, command)
  }

  screen(name: string): string {
    return this.run('capture-pane', '-p', '-t', `t:${name}`)
  }

  keys(name: string, ...keys: string[]): void {
    this.run('send-keys', '-t', `t:${name}`, ...keys)
  }

  /** Closes the window: its terminal goes away, as when a user closes it. */
  kill(name: string): void {
    this.run('kill-window', '-t', `t:${name}`)
  }

  /** Waits until the screen of `name` passes `cond`; the error shows the last screen. */
  async waitFor(name: string, cond: (screen: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
    let last = ''
    return eventually(what, () => {
      last = this.screen(name)
      return cond(last) ? last : undefined
    }, {timeoutMs, intervalMs: 150, context: () => `the screen was:\n${last}`})
  }

  close(): void {
    try {
      this.run('kill-server')
    } catch {
      // already gone
    }
  }
}
