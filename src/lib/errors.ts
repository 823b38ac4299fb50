// One error model for the whole CLI: every failure is a MeshError with a stable code, a
// message that names the input and the problem, suggestions ("Try this: ..."), and an exit
// code. The base command renders them on stderr; nothing else prints errors.

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

interface OclifLikeError {
  message?: string
  oclif?: {exit?: number}
  code?: string
  parse?: unknown
}

/**
 * Turns anything thrown into a MeshError: oclif's parse errors become usage errors (exit 2)
 * with a single line and a hint; unknown errors keep their message and exit 1.
 */
export function toMeshError(error: unknown, commandId?: string): MeshError {
  if (error instanceof MeshError) return error
  const err = (error ?? {}) as OclifLikeError
  const raw = typeof err.message === 'string' ? err.message : String(error)
  const firstLine = raw.split('\n').find((l) => l.trim() !== '') ?? raw
  const helpHint = commandId ? `Run \`mesh ${commandId.replaceAll(':', ' ')} --help\` to see the flags and examples.` : 'Run `mesh --help`.'
  const exit = err.oclif?.exit
  if (exit === 2 || err.parse !== undefined) {
    return new UsageError(cleanOclifMessage(firstLine), {code: 'MESH_USAGE', suggestions: [helpHint], cause: error})
  }
  if (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND') {
    return new ClusterError(`cannot connect: ${firstLine}`, {
      suggestions: ['Check that the cluster is reachable with `kubectl version`, or pass --kubeconfig/--context.'],
      cause: error,
    })
  }
  return new MeshError(firstLine, {code: 'MESH_INTERNAL', exitCode: exit ?? ExitCode.FAILURE, cause: error})
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
