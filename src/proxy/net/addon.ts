// The proxy's small N-API addons (native/*.c, built into native/build/ by
// scripts/build-native.sh), loaded once each. A missing addon (not built, not Linux) is not an
// error: the caller does without, and `support()` says why.
import {createRequire} from 'node:module'

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
      // src/proxy/net/ and dist/proxy/net/ are both three levels below the package root.
      addon = createRequire(import.meta.url)(`../../../native/build/${name}.node`) as T
    } catch (err) {
      addon = null
      loadError = (err as Error).message
    }
    return addon
  }
  return {
    get,
    support: () => (get() ? {available: true} : {available: false, reason: `native addon not loaded (run scripts/build-native.sh): ${loadError ?? 'unknown'}`}),
  }
}
