// Shell completion, as cobra and kubectl do it: the shell script (completion-scripts.ts) asks
// `mesh __complete -- <words so far>` and gets one candidate per line (`value<TAB>description`),
// then `:<directive>`. This file decides the candidates from the commands themselves (their
// ids, flags, options and arguments) and, for resource names, namespaces and contexts, from
// the kubeconfig, the cluster or a running `mesh demo`, each lookup with a short deadline.

/** cobra's ShellCompDirective bits: what the shell does besides offering the candidates. */
export const Directive = {
  DEFAULT: 0,
  ERROR: 1,
  /** No space after the completion (`deploy/` then the name). */
  NO_SPACE: 2,
  /** Do not fall back to file names. */
  NO_FILE: 4,
} as const

export interface Candidate {
  value: string
  description?: string
}

export interface Completion {
  candidates: Candidate[]
  directive: number
}

export interface FlagSpec {
  name: string
  char?: string
  /** boolean flags take no value. */
  type: 'boolean' | 'option'
  options?: readonly string[]
  description?: string
  helpValue?: string
}

export interface CommandSpec {
  id: string
  summary?: string
  hidden?: boolean
  flags: FlagSpec[]
  args: {name: string; options?: readonly string[]}[]
  /** Takes any number of arguments (inject, uninject). */
  variadic?: boolean
}

/** What the cluster or the demo can tell; every lookup may fail or time out (then: nothing). */
export interface Lookups {
  /** Names of `kind` (deployment, pod, ...) in `namespace` (undefined: the default one). */
  names(kind: string, scope: Scope): Promise<string[]>
  namespaces(scope: Scope): Promise<string[]>
  contexts(scope: Scope): Promise<string[]>
}

/** The global flags typed so far, which say where lookups go. */
export interface Scope {
  kubeconfig?: string
  context?: string
  namespace?: string
}

/** The resource kinds the CLI reads, short form first (as kubectl's completion offers them). */
export const KINDS: {short: string; kind: string}[] = [
  {short: 'deploy', kind: 'deployment'},
  {short: 'po', kind: 'pod'},
  {short: 'sts', kind: 'statefulset'},
  {short: 'ds', kind: 'daemonset'},
  {short: 'job', kind: 'job'},
  {short: 'svc', kind: 'service'},
  {short: 'rs', kind: 'replicaset'},
  {short: 'ns', kind: 'namespace'},
]
const KIND_OF: Record<string, string> = Object.fromEntries(KINDS.flatMap(({short, kind}) => [[short, kind], [kind, kind], [`${kind}s`, kind]]))

/** Flags whose value is a file name: the shell completes paths. */
function takesFile(f: FlagSpec): boolean {
  return f.helpValue === 'FILE' || /(^|-)(file|kubeconfig|values)$/.test(f.name) || f.name === 'inject' || f.name === 'local-state'
}

/** Flags whose value is a resource (`--to deploy/books`). */
const RESOURCE_FLAGS = new Set(['to', 'from'])
/** Commands whose arguments are resources; stat takes a comma-separated list. */
const RESOURCE_COMMANDS = new Set(['tap', 'top', 'stat', 'edges'])
/** Commands with a resource at some argument positions (0-based), others plain. */
const RESOURCE_ARGS: Record<string, readonly number[]> = {'identity': [0], 'explain': [0, 1], 'diagnostics:proxy-metrics': [0], 'proxy:log-level': [0]}

/** Finds the command the words name: the longest run of leading words that is a command id. */
function findCommand(words: string[], commands: CommandSpec[]): {command?: CommandSpec; used: number} {
  let best: {command?: CommandSpec; used: number} = {used: 0}
  for (let n = 1; n <= words.length; n++) {
    if (words[n - 1]!.startsWith('-')) break
    const id = words.slice(0, n).join(':')
    const command = commands.find((c) => c.id === id)
    if (command) best = {command, used: n}
  }
  return best
}

function flagNamed(command: CommandSpec, word: string): FlagSpec | undefined {
  if (word.startsWith('--')) return command.flags.find((f) => f.name === word.slice(2).split('=')[0])
  if (/^-[A-Za-z]$/.test(word)) return command.flags.find((f) => f.char === word[1])
  return undefined
}

/** The global flags typed among the words. */
function scopeOf(words: string[], command: CommandSpec | undefined): Scope {
  const scope: Scope = {}
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!
    const eq = w.indexOf('=')
    const f = command ? flagNamed(command, eq > 0 ? w.slice(0, eq) : w) : undefined
    if (!f || f.type === 'boolean') continue
    const value = eq > 0 && w.startsWith('--') ? w.slice(eq + 1) : words[i + 1]
    if (eq < 0) i++
    if (value === undefined) continue
    if (f.name === 'kubeconfig') scope.kubeconfig = value
    else if (f.name === 'context') scope.context = value
    else if (f.name === 'namespace') scope.namespace = value
  }
  return scope
}

const prefixed = (list: Candidate[], prefix: string): Candidate[] => list.filter((c) => c.value.startsWith(prefix))

/**
 * Candidates for the last word of `words` (the words after `mesh`; the last one is what the
 * cursor is on, '' for a new word).
 */
export async function complete(words: string[], commands: CommandSpec[], lookups: Lookups): Promise<Completion> {
  const typed = words.length === 0 ? [''] : words
  const current = typed.at(-1)!
  const before = typed.slice(0, -1)
  const visible = commands.filter((c) => !c.hidden)
  const {command, used} = findCommand(before, visible)

  // Still choosing the command (or a subcommand of a topic: `demo st`).
  if (before.length === used && !current.startsWith('-')) {
    const prefix = before.join(':')
    const level = before.length
    const next = new Map<string, string | undefined>()
    for (const c of visible) {
      const parts = c.id.split(':')
      if (parts.length <= level || (prefix !== '' && !c.id.startsWith(prefix + ':'))) continue
      const word = parts[level]!
      if (!next.has(word)) next.set(word, parts.length === level + 1 ? c.summary : `${parts[0]} commands`)
      else if (parts.length === level + 1) next.set(word, c.summary)
    }
    const subcommands = prefixed([...next].map(([value, description]) => ({value, description: firstSentence(description)})), current)
    // A command with no subcommand to offer takes its arguments here (`inject <TAB>`: files).
    if (!command || subcommands.length > 0) return {candidates: subcommands, directive: Directive.NO_FILE}
  }
  if (!command) return {candidates: [], directive: Directive.NO_FILE}
  const scope = scopeOf(before.slice(used), command)

  // The value of a flag: `-o <TAB>`, `--namespace=<TAB>`.
  const eq = current.indexOf('=')
  if (current.startsWith('--') && eq > 0) {
    const f = flagNamed(command, current.slice(0, eq))
    if (f && f.type !== 'boolean') {
      const r = await flagValues(f, current.slice(eq + 1), command, scope, lookups)
      return {candidates: r.candidates.map((c) => ({...c, value: `${current.slice(0, eq + 1)}${c.value}`})), directive: r.directive}
    }
  }
  const previous = before.length > used ? before.at(-1)! : undefined
  const pending = previous && !previous.includes('=') ? flagNamed(command, previous) : undefined
  if (pending && pending.type !== 'boolean') return flagValues(pending, current, command, scope, lookups)

  if (current.startsWith('-')) {
    const flags = command.flags.map((f) => ({value: `--${f.name}`, description: firstSentence(f.description)}))
    return {candidates: prefixed(flags, current), directive: Directive.NO_FILE}
  }

  // An argument.
  if (RESOURCE_COMMANDS.has(command.id)) return resources(current, command.id === 'stat', scope, lookups)
  const position = positionals(before.slice(used), command)
  if (RESOURCE_ARGS[command.id]?.includes(position)) return resources(current, false, scope, lookups)
  const arg = command.args[position]
  if (arg?.options) return {candidates: prefixed(arg.options.map((value) => ({value})), current), directive: Directive.NO_FILE}
  if (command.variadic) return {candidates: [], directive: Directive.DEFAULT}
  return {candidates: [], directive: Directive.NO_FILE}
}

/** How many positional arguments are already typed (flags and their values skipped). */
function positionals(words: string[], command: CommandSpec): number {
  let n = 0
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!
    if (w.startsWith('-')) {
      const f = flagNamed(command, w)
      if (f && f.type !== 'boolean' && !w.includes('=')) i++
      continue
    }
    n++
  }
  return n
}

async function flagValues(f: FlagSpec, current: string, command: CommandSpec, scope: Scope, lookups: Lookups): Promise<Completion> {
  if (f.options) return {candidates: prefixed(f.options.map((value) => ({value})), current), directive: Directive.NO_FILE}
  if (takesFile(f)) return {candidates: [], directive: Directive.DEFAULT}
  if (f.name === 'namespace' || f.name.endsWith('-namespace')) {
    return {candidates: prefixed((await lookups.namespaces(scope)).map((value) => ({value})), current), directive: Directive.NO_FILE}
  }
  if (f.name === 'context') return {candidates: prefixed((await lookups.contexts(scope)).map((value) => ({value})), current), directive: Directive.NO_FILE}
  if (RESOURCE_FLAGS.has(f.name)) return resources(current, false, scope, lookups)
  void command
  return {candidates: [], directive: Directive.NO_FILE}
}

/**
 * `deploy/web` as people type it: the kinds first (`deploy` and `deploy/`, no space after), then,
 * once a kind and a `/` are there, the names of that kind. For stat, after the last comma.
 */
async function resources(current: string, list: boolean, scope: Scope, lookups: Lookups): Promise<Completion> {
  const comma = list ? current.lastIndexOf(',') + 1 : 0
  const head = current.slice(0, comma)
  const word = current.slice(comma)
  const slash = word.indexOf('/')
  if (slash < 0) {
    const kinds = KINDS.flatMap(({short, kind}) => [{value: short, description: kind}, {value: `${short}/`, description: `a ${kind} by name`}])
    return {candidates: prefixed(kinds, word).map((c) => ({...c, value: head + c.value})), directive: Directive.NO_SPACE | Directive.NO_FILE}
  }
  const kindWord = word.slice(0, slash)
  const kind = KIND_OF[kindWord.toLowerCase()]
  if (!kind) return {candidates: [], directive: Directive.NO_FILE}
  const names = kind === 'namespace' ? await lookups.namespaces(scope) : await lookups.names(kind, scope)
  const all = names.map((n) => ({value: `${head}${kindWord}/${n}`}))
  return {candidates: prefixed(all, current), directive: Directive.NO_FILE}
}

function firstSentence(text: string | undefined): string | undefined {
  if (!text) return undefined
  const line = text.split('\n')[0]!.replace(/\s*\[default:.*$/, '')
  return line.length > 80 ? `${line.slice(0, 77)}...` : line
}

/** The protocol's text: one candidate a line (`value<TAB>description`), then `:<directive>`. */
export function formatCompletion(c: Completion, descriptions = true): string {
  const lines = c.candidates.map((x) => (descriptions && x.description ? `${x.value}\t${x.description.replace(/[\t\n]/g, ' ')}` : x.value))
  return [...lines, `:${c.directive}`].join('\n') + '\n'
}
