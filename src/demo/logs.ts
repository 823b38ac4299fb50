// The last lines of a child's log, to show why it failed.
import {closeSync, openSync, readSync, statSync} from 'node:fs'

export function logTail(file: string, lines = 8, maxBytes = 8192): string {
  try {
    const size = statSync(file).size
    const len = Math.min(size, maxBytes)
    const buf = Buffer.alloc(len)
    const fd = openSync(file, 'r')
    try {
      readSync(fd, buf, 0, len, size - len)
    } finally {
      closeSync(fd)
    }
    return buf.toString('utf8').split('\n').filter((l) => l.trim() !== '').slice(-lines).join('\n')
  } catch {
    return ''
  }
}
