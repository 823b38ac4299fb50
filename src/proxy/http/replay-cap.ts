// The bytes all request bodies kept for retries may hold at once, in this process: the HTTP/2
// path (http2/replay-body.ts) and the raw HTTP/1 codec (http1/raw/replay.ts) share it. 64 KiB
// per request times thousands of requests held by a slow upstream would be an unbounded
// buffer; past the cap new bodies are not kept (those requests are just not retried).
const cap = {held: 0, max: 32 * 1024 * 1024}

/** Counts `bytes` as kept when they fit under the cap; false (nothing counted) when not. */
export function holdReplayBytes(bytes: number): boolean {
  if (cap.held + bytes > cap.max) return false
  cap.held += bytes
  return true
}

/** Gives back bytes counted by holdReplayBytes. */
export function releaseReplayBytes(bytes: number): void {
  cap.held -= bytes
}

/** For tests: sets the process-wide cap; returns the previous one. */
export function setReplayCap(bytes: number): number {
  const before = cap.max
  cap.max = bytes
  return before
}

/** Bytes kept for replay right now, in this process. */
export function replayHeld(): number {
  return cap.held
}
