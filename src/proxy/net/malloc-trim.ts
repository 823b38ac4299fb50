// Returns freed malloc memory to the kernel every few seconds (malloc_trim(3), through the
// small N-API addon native/malloc_trim.c, built by scripts/build-native.sh). V8's optimizing
// compiler works in malloc'd memory that it frees after each compile, and glibc keeps those
// pages resident: measured with bench/proxy/mem-breakdown.ts, a proxy's malloc heap holds
// 7-8 MB after start-up and under load, 3.5-4.5 MB when trimmed (the proxies then stay under
// 60 MB RSS). A trim takes under 1 ms. Without the addon (not built, not glibc) nothing runs.
import {nativeAddon} from './addon.js'

/** How often the proxy trims. */
export const MALLOC_TRIM_INTERVAL_MS = 5_000

interface Addon {
  mallocTrim(): boolean
}

const addon = nativeAddon<Addon>('malloc_trim')

/** Whether trimming is possible here; with the reason when not. */
export function mallocTrimSupport(): {available: boolean, reason?: string} {
  return addon.support()
}

/** Trims once: true when some memory went back to the kernel, false when none (or no addon). */
export function mallocTrim(): boolean {
  return addon.get()?.mallocTrim() ?? false
}

/** Trims every `intervalMs` (the timer does not keep the process alive); returns the stop function. */
export function startMallocTrim(intervalMs = MALLOC_TRIM_INTERVAL_MS): () => void {
  if (!addon.get()) return () => {}
  const timer = setInterval(mallocTrim, intervalMs).unref()
  return () => clearInterval(timer)
}
