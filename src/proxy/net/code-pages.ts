// Lets go of the node binary's start-up code pages once the proxy serves (native/code_pages.c,
// built by scripts/build-native.sh). Starting Node 24 touches ~47 MB of its binary (OpenSSL's
// initialisation, the module loader, V8's compilers) that stay in the process's RSS although a
// serving proxy uses about half of it: measured with bench/proxy/mem-breakdown.ts, a loaded
// proxy is at ~69 MB RSS without this and ~46-48 MB with it (docs/architecture/proxy.md). The
// pages are the binary file's, shared and kept in the page cache: what is dropped is this
// process's mapping of them; the pages it still uses come back on their next touch (minor
// faults). Without the addon (not built, not Linux) nothing runs.
import {nativeAddon} from './addon.js'

/** How long after start-up the proxy drops them (once). */
export const CODE_PAGES_DROP_DELAY_MS = 5_000

interface Addon {
  /** Bytes that were resident in the mappings advised; -1 when /proc/self cannot be read. */
  dropCodePages(): number
}

const addon = nativeAddon<Addon>('code_pages')

/** Whether dropping is possible here; with the reason when not. */
export function codePagesSupport(): {available: boolean, reason?: string} {
  return addon.support()
}

/** Drops them now: the bytes that were resident (0 without the addon, -1 without /proc/self). */
export function dropCodePages(): number {
  return addon.get()?.dropCodePages() ?? 0
}

/**
 * Drops them once, `delayMs` from now (the timer does not keep the process alive), then calls
 * `done` with the bytes that were resident; returns the cancel function.
 */
export function dropCodePagesLater(done: (bytes: number) => void, delayMs = CODE_PAGES_DROP_DELAY_MS): () => void {
  if (!addon.get()) return () => {}
  const timer = setTimeout(() => done(dropCodePages()), delayMs).unref()
  return () => clearTimeout(timer)
}
