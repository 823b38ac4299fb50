// One error model for the whole CLI: every failure is a MeshError with a stable code, a
// message that names the input and the problem, suggestions ("Try this: ..."), and an exit
// code. The base command renders them on stderr; nothing else prints errors.
import {closest} from './suggest.js'

export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
} as const

export interface MeshErrorOptions {
  /** Stable, documented identifier, e.g. `MESH_INJECT_HOST_NETWORK`. */
  code?: string
  /** What the user can do about it; rendered as "Try this: ...". */
  suggestions?: string[]
  exitCode?: number
  cause?: unknown
}

export class MeshError extends Error {
  readonly code: string
  readonly suggestions: string[]
  readonly exitCode: number

  constructor(message: string, options: MeshErrorOptions = {}) {
    super(message, {cause: options.cause})
    this.name = 'MeshError'
    this.code = options.code ?? 'MESH_ERROR'
    this.suggestions = options.suggestions ?? []
    this.exitCode = options.exitCode ?? ExitCode.FAILURE
  }
}

/** Wrong flags, arguments or combinations of them: exit code 2. */
export class UsageError extends MeshError {
  constructor(message: string, options: Omit<MeshErrorOptions, 'exitCode'> = {}) {
    super(message, {code: 'MESH_USAGE', ...options, exitCode: ExitCode.USAGE})
    this.name = 'UsageError'
  }
}

/** A file, URL or document the user gave us that we cannot use. */
export class InputError extends MeshError {
  constructor(message: string, options: Omit<MeshErrorOptions, 'exitCode'> = {}) {
    super(message, {code: 'MESH_INPUT', ...options, exitCode: ExitCode.FAILURE})
    this.name = 'InputError'
  }
}

/** The cluster (or the local demo) could not be reached or refused us. */
export class ClusterError extends MeshError {
  constructor(message: string, options: Omit<MeshErrorOptions, 'exitCode'> = {}) {
    super(message, {code: 'MESH_CLUSTER', ...options, exitCode: ExitCode.FAILURE})
    this.name = 'ClusterError'
  }
}

/** A server (the API server, the tap server) did not answer within the deadline. */
export class TimeoutError extends ClusterError {
  constructor(message: string, options: Omit<MeshErrorOptions, 'exitCode'> = {}) {
    super(message, {code: 'MESH_TIMEOUT', ...options})
    this.name = 'TimeoutError'
  }
}

interface OclifLikeError {
  message?: string
  oclif?: {exit?: number}
  code?: string
  parse?: unknown
  /** RequiredArgsError: the missing arguments. */
  args?: {name?: string; description?: string; options?: string[]}[]
  /** NonExistentFlagsError: the unknown flags as typed. */
  flags?: string[]
}

/** What the error handler knows of the command, for hints. */
export interface CommandInfo {
  /** Its examples, with the binary's name filled in. */
  examples?: string[]
  /** Its flags' names (without --). */
  flags?: string[]
}

const PARSING = /^Parsing (--\S+)\s*\n\t([\s\S]*?)(?:\nSee more help with --help)?\s*$/
// oclif colours some messages (dim reasons); the rendering is ours.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g

/**
 * Turns anything thrown into a MeshError: oclif's parse errors become complete usage errors
 * (exit 2): the missing argument named and described, a flag's value with the reason it was
 * refused, the nearest flag to an unknown one; unknown errors keep their message and exit 1.
 */
export function toMeshError(error: unknown, commandId?: string, info: CommandInfo = {}): MeshError {
  if (error instanceof MeshError) {
    // A flag's own parser threw it; oclif prefixed its message with "Parsing --flag".
    const m = PARSING.exec(error.message)
    if (m) error.message = m[2]!.trim()
    return error
  }
  const err = (error ?? {}) as OclifLikeError
  const raw = (typeof err.message === 'string' ? err.message : String(error)).replace(ANSI, '')
  const firstLine = raw.split('\n').find((l) => l.trim() !== '') ?? raw
  const helpHint = commandId ? `Run \`mesh ${commandId.replaceAll(':', ' ')} --help\` to see the flags and examples.` : 'Run `mesh --help`.'
  const exit = err.oclif?.exit
  const parsing = PARSING.exec(raw)
  if (exit === 2 || err.parse !== undefined || parsing) {
    return new UsageError(usageMessage(err, raw, firstLine, parsing), {code: 'MESH_USAGE', suggestions: [...usageHints(err, info), helpHint], cause: error})
  }
  if (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND') {
    return new ClusterError(`cannot connect: ${firstLine}`, {
      suggestions: ['Check that the cluster is reachable with `kubectl version`, or pass --kubeconfig/--context.'],
      cause: error,
    })
  }
  return new MeshError(firstLine, {code: 'MESH_INTERNAL', exitCode: exit ?? ExitCode.FAILURE, cause: error})
}

function usageMessage(err: OclifLikeError, raw: string, firstLine: string, parsing: RegExpExecArray | null): string {
  if (parsing) {
    const reason = parsing[2]!.trim()
    return `${parsing[1]}: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`
  }
  if (Array.isArray(err.args) && /^Missing \d+ required arg/.test(firstLine)) {
    const named = err.args.map((a) => {
      const name = (a.name ?? 'argument').toUpperCase()
      const listed = a.options?.every((o) => a.description?.includes(o))
      const options = a.options && !listed ? ` (one of: ${a.options.join(', ')})` : ''
      return a.description ? `${name}: ${a.description}${options}` : `${name}${options}`
    })
    return named.length === 1 ? `missing argument ${named[0]}` : `missing ${named.length} arguments: ${named.join('; ')}`
  }
  // "The following error occurred:\n  <reason>" (flag validation and constraints).
  if (/^The following errors? occurred:/.test(firstLine)) {
    const reasons = raw.split('\n').slice(1).map((l) => l.trim()).filter((l) => l !== '' && l !== 'See more help with --help')
    return reasons.join('; ')
  }
  return cleanOclifMessage(firstLine)
}

function usageHints(err: OclifLikeError, info: CommandInfo): string[] {
  const hints: string[] = []
  if (Array.isArray(err.flags) && info.flags) {
    for (const typed of err.flags) {
      const name = typed.replace(/^-+/, '').split('=')[0]!
      const near = closest(name, info.flags, 2)[0]
      if (near) hints.push(`Did you mean --${near}?`)
    }
  }
  if (Array.isArray(err.args) && info.examples?.[0]) hints.push(`For example: \`${info.examples[0]}\``)
  return hints
}

function cleanOclifMessage(message: string): string {
  return message.replace(/^Error:\s*/, '').replace(/\s*See more help with --help\s*$/, '')
}

/** The rendering every command shares: `Error: <message>` then one "Try this:" per suggestion. */
export function formatError(error: MeshError, debug = process.env.MESH_DEBUG === '1'): string {
  const lines = [`Error: ${error.message}`]
  for (const s of error.suggestions) lines.push(`  Try this: ${s}`)
  if (debug) {
    lines.push(`  code: ${error.code}`)
    const cause = error.cause instanceof Error ? error.cause : error
    if (cause.stack) lines.push(cause.stack)
  }
  return lines.join('\n') + '\n'
}
