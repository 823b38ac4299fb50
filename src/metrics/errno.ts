// The `errno` label of tcp_close_total and tcp_connection_duration_ms, as Linkerd's proxy sets
// it: the name of the operating system error that ended the connection (`ECONNRESET`), empty for
// a clean close and for errors that are not the system's (TLS, protocol, timeouts the proxy
// imposed), `UNKNOWN_ERRNO` for a system error whose number has no name here. The values are a
// fixed set (the names libuv gives on this platform, plus UNKNOWN_ERRNO), whatever the data path
// passes: the label cannot be used to grow the series.
import {constants} from 'node:os'

/** libuv's names that Linux's errno.h spells otherwise: the errno.h name, as Linkerd prints it. */
const CANONICAL: Record<string, string> = {ENOTSUP: 'EOPNOTSUPP', EWOULDBLOCK: 'EAGAIN'}

const NAMES: ReadonlySet<string> = new Set(Object.keys(constants.errno))

/** A system error code libuv has no name for (`Unknown system error -135`), or an E-name it does not list. */
const UNNAMED_SYSTEM_ERROR = /^(?:E[A-Z0-9]{1,30}|Unknown system error -?\d{1,6})$/

export const UNKNOWN_ERRNO = 'UNKNOWN_ERRNO'

/** The label value for a connection that ended with error code `code` (undefined: a clean close). */
export function errnoLabel(code: string | undefined): string {
  if (code === undefined || code === '') return ''
  if (NAMES.has(code)) return CANONICAL[code] ?? code
  return UNNAMED_SYSTEM_ERROR.test(code) ? UNKNOWN_ERRNO : ''
}
