// Types of bin/fast.js for the tests (the bin/ files are plain JavaScript).
export interface FastIO {
  stdout?: {write(s: string): unknown, isTTY?: boolean, columns?: number}
  env?: Record<string, string | undefined>
  helpDir?: URL
}
export function fastPath(argv: string[], io?: FastIO): boolean
export function pinnedWidth(stdout?: FastIO['stdout'], env?: FastIO['env']): boolean
export function fastProxy(argv: string[], env?: Record<string, string | undefined>): Promise<boolean>
