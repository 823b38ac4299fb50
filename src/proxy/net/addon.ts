// The proxy's small N-API addons (native/*.c, built into native/build/ by
// scripts/build-native.sh), loaded once each. A missing addon (not built, not Linux) is not an
// error: the caller does without, and `support()` says why.
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'
import {packageRoot} from '../../lib/package-root.js'

export interface NativeAddon<T> {
  /** The addon, or null when it cannot be loaded. */
  get(): T | null
  /** Whether it loads here; with the reason when not. */
  support(): {available: boolean, reason?: string}
}

/** native/build/<name>.node, loaded on first use. */
export function nativeAddon<T>(name: string): NativeAddon<T> {
  let addon: T | null | undefined
  let loadError: string | undefined
  const get = (): T | null => {
    if (addon !== undefined) return addon
    try {
      // From src/proxy/net/, dist/proxy/net/ or the sidecar's bundle (dist/proxy/sidecar.cjs).
      addon = createRequire(import.meta.url)(fileURLToPath(new URL(`native/build/${name}.node`, packageRoot(import.meta.url)))) as T
    } catch (err) {
      addon = null
      // Its first line: Node's "Require stack" after it would break the one-line log.
      loadError = (err as Error).message.split('\n', 1)[0]
    }
    return addon
  }
  return {
    get,
    support: () => (get() ? {available: true} : {available: false, reason: `native addon not loaded (run scripts/build-native.sh): ${loadError ?? 'unknown'}`}),
  }
}
