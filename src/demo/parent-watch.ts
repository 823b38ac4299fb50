// The parent-death watch of every process `mesh demo` supervises, loaded into each child with
// `node --import <this module>` before its own entry script runs (so it covers `mesh proxy`'s
// fast path, the controller and the demo apps alike, with no change to their code).
//
// The supervisor gives each child one end of a socket pair as fd 3 (MESH_DEMO_PARENT_FD) and
// keeps the other end open, never writing to it. Only the supervisor holds that end (libuv opens
// it close-on-exec, so no sibling inherits it), and the kernel closes it when the supervisor
// dies, however it dies: SIGKILL, a crash, a closed terminal. The child then reads EOF at once,
// and stops itself: SIGTERM to itself (its own graceful shutdown), SIGKILL after a grace period.
// Why not prctl(PR_SET_PDEATHSIG) or polling process.ppid: docs/architecture/demo.md.
import net from 'node:net'

export const PARENT_FD_ENV = 'MESH_DEMO_PARENT_FD'
/** How long a child's own shutdown may take after its supervisor died. */
export const ORPHAN_GRACE_MS = 10_000

/**
 * Watches `fd` (a socket the parent holds the other end of) and calls `gone` once when it ends.
 * Returns false when `fd` is not a usable socket (then nothing is watched).
 */
export function watchParent(fd: number, gone: (why: string) => void): boolean {
  let socket: net.Socket
  try {
    socket = new net.Socket({fd, readable: true, writable: false, allowHalfOpen: false})
  } catch {
    return false
  }
  let fired = false
  const once = (why: string): void => {
    if (fired) return
    fired = true
    gone(why)
  }
  // Nothing is ever sent; reading (and dropping) keeps the stream flowing so that EOF is seen.
  socket.on('data', () => {})
  socket.once('end', () => once('its supervisor closed the watch pipe'))
  socket.once('close', () => once('its supervisor is gone'))
  socket.on('error', (err) => once(`the watch pipe failed: ${err.message}`))
  // The watch alone never keeps the process alive.
  socket.unref()
  return true
}

/** What a child does when its supervisor is gone: its own graceful stop, then a hard one. */
export function stopSelf(why: string, log: (line: string) => void = (l) => process.stderr.write(l + '\n')): void {
  try {
    log(`mesh demo child ${process.pid}: ${why}; stopping`)
  } catch {
    // its log may be gone too
  }
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), ORPHAN_GRACE_MS).unref()
  process.kill(process.pid, 'SIGTERM')
}

// Loaded with --import: arm the watch when the supervisor handed us a pipe.
const fd = Number(process.env[PARENT_FD_ENV])
if (Number.isInteger(fd) && fd > 2) {
  delete process.env[PARENT_FD_ENV]
  watchParent(fd, (why) => stopSelf(why))
}
