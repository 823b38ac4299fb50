// YAML and JSON streams in and out. YAML is parsed as Kubernetes reads it (YAML 1.1, minus
// the timestamp tag so dates stay strings). Output is the user's own text with the changed
// values spliced in (splice.ts): documents that did not change, comment-only documents, markers,
// spacing and line endings pass through byte for byte. The result is parsed again and must
// give exactly the transformed values; a document the splicer cannot express is rewritten
// with its comments kept (yaml-sync.ts), else from its value, and the report says so.
import {Document, isCollection, isMap, parseAllDocuments, visit, type ToStringOptions} from 'yaml'
import {InputError, MeshError} from '../lib/errors.js'
import {applyEdits, commentTexts, spliceEdits, Unsupported, YAML_OPTIONS, type Edit} from './splice.js'
import {deepEqual, syncNode} from './yaml-sync.js'

export interface Source {
  /** File path, URL or `-` (stdin), used in every error message. */
  name: string
  text: string
}

export interface Style {
  indent: number
  indentSeq: boolean
}

export interface ParsedDoc {
  source: string
  /** 1-based document number within its source. */
  index: number
  value: unknown
  /** The editable YAML document (absent for JSON sources). */
  doc?: Document
  style: Style
}

/** A source and its non-empty documents. */
export interface ParsedSource {
  source: Source
  json: boolean
  docs: ParsedDoc[]
  style: Style
}

/** Aliases expanded per document at most this many times (billion-laughs guard). */
const MAX_ALIAS_COUNT = 100

const PARSE_OPTIONS = {...YAML_OPTIONS, prettyErrors: false}

export function isJsonText(text: string): boolean {
  const first = /\S/.exec(text)
  return first !== null && (first[0] === '{' || first[0] === '[')
}

/** Lines looked at to guess the indentation style (the guess needs only the first few). */
const SNIFF_LINES = 2000

/** Guesses the indentation style of a YAML text so re-rendered parts match the rest. */
export function sniffStyle(text: string): Style {
  const lines = text.split('\n', SNIFF_LINES)
  let indent: number | undefined
  let indentSeq: boolean | undefined
  for (let i = 0; i < lines.length - 1 && (indent === undefined || indentSeq === undefined); i++) {
    const m = /^(\s*)(- )?[^\s#][^#]*:\s*$/.exec(lines[i])
    if (!m) continue
    const own = m[1].length + (m[2] ? 2 : 0)
    let next: string | undefined
    for (let j = i + 1; j < lines.length && next === undefined; j++) {
      const t = lines[j].trim()
      if (t !== '' && !t.startsWith('#')) next = lines[j]
    }
    if (next === undefined) continue
    const nextIndent = next.length - next.trimStart().length
    if (next.trimStart().startsWith('- ')) {
      indentSeq ??= nextIndent > own
      if (nextIndent > own) indent ??= nextIndent - own
    } else if (nextIndent > own) {
      indent ??= nextIndent - own
    }
  }
  return {indent: indent ?? 2, indentSeq: indentSeq ?? true}
}

function lineOf(text: string, offset: number): number {
  let line = 1
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

export function parseSource(src: Source): ParsedDoc[] {
  return parseStream(src).docs
}

export function parseStream(src: Source): ParsedSource {
  if (isJsonText(src.text)) {
    const docs = parseJson(src)
    return {source: src, json: true, docs, style: docs[0]!.style}
  }
  const style = sniffStyle(src.text)
  const mayHaveCollectionKeys = /\?|[\]}]\s*:/.test(src.text)
  const docs = parseAllDocuments(src.text, PARSE_OPTIONS)
  if (!Array.isArray(docs)) return {source: src, json: false, docs: [], style} // an empty stream
  const out: ParsedDoc[] = []
  docs.forEach((doc, i) => {
    const error = doc.errors[0]
    if (error) {
      const line = error.linePos?.[0].line ?? lineOf(src.text, error.pos[0])
      const why = /Maximum call stack/.test(error.message)
        ? 'nested too deeply to be read'
        : `malformed YAML: ${error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`
      throw new InputError(`${src.name}: line ${line}: ${why}`, {
        code: 'MESH_INJECT_MALFORMED',
        suggestions: [`Fix the YAML near line ${line} of ${src.name}, then run the command again.`],
      })
    }
    if (doc.contents === null) return // empty document, e.g. a trailing `---`
    // A key that is a mapping or a list (`? [a, b]: x`, `[a]: x`) has no JSON form: the API
    // refuses it. Such a key needs `?`, or `]`/`}` before a `:`; other texts skip the walk.
    if (mayHaveCollectionKeys) visit(doc, {
      Pair(_, pair) {
        if (!isCollection(pair.key)) return
        const line = lineOf(src.text, (pair.key as {range?: [number, number, number]}).range?.[0] ?? 0)
        throw new InputError(`${src.name}: line ${line}: a mapping key that is itself a ${isMap(pair.key) ? 'mapping' : 'list'}; Kubernetes objects have string keys`, {
          code: 'MESH_INJECT_MALFORMED',
          suggestions: [`Fix the key near line ${line} of ${src.name}.`],
        })
      },
    })
    let value: unknown
    try {
      value = doc.toJS({maxAliasCount: MAX_ALIAS_COUNT})
    } catch (error) {
      throw new InputError(`${src.name}: document ${i + 1}: ${(error as Error).message}`, {code: 'MESH_INJECT_MALFORMED', cause: error})
    }
    if (value === null || value === undefined) return // empty document, e.g. a trailing `---`
    out.push({source: src.name, index: i + 1, value, doc, style})
  })
  return {source: src, json: false, docs: out, style}
}

/** Deeper than any Kubernetes object: refused before a recursive walk could overflow the stack. */
export const MAX_DEPTH = 1000

function checkDepth(value: unknown, name: string, index: number): void {
  const stack: [unknown, number][] = [[value, 1]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    if (depth > MAX_DEPTH) {
      throw new InputError(`${name}: document ${index} is nested more than ${MAX_DEPTH} levels deep; no Kubernetes object is`, {code: 'MESH_INJECT_MALFORMED'})
    }
    for (const x of Array.isArray(v) ? v : Object.values(v)) stack.push([x, depth + 1])
  }
}

function parseJson(src: Source): ParsedDoc[] {
  try {
    const value: unknown = JSON.parse(src.text)
    checkDepth(value, src.name, 1)
    return [{source: src.name, index: 1, value, style: {indent: 2, indentSeq: true}}]
  } catch (error) {
    if (error instanceof InputError) throw error
    const m = /position (\d+)/.exec((error as Error).message)
    const line = m ? lineOf(src.text, Number(m[1])) : undefined
    throw new InputError(`${src.name}: ${line ? `line ${line}: ` : ''}malformed JSON: ${(error as Error).message}`, {
      code: 'MESH_INJECT_MALFORMED',
      suggestions: [`Fix the JSON${line ? ` near line ${line}` : ''} of ${src.name}, then run the command again.`],
    })
  }
}

function toStringOptions(style: Style): ToStringOptions {
  return {indent: style.indent, indentSeq: style.indentSeq, lineWidth: 0, flowCollectionPadding: false}
}

/** A document whose text could not be spliced, for the report. */
export interface Rewritten {
  source: string
  index: number
  /** true: every comment is still there (printed anew); false: some are gone. */
  commentsKept: boolean
}

/** The text of a document's contents for `value`: the old tree synced (comments kept), or the value alone. */
function rewriteContents(d: ParsedDoc, value: unknown, keepComments: boolean): Edit {
  const contents = d.doc!.contents as {range?: [number, number, number]} | null
  if (!contents?.range) throw new MeshError(`${d.source}: document ${d.index} has no contents to rewrite`, {code: 'MESH_INTERNAL'})
  const [start, end] = contents.range
  let text: string
  if (keepComments) {
    const copy = d.doc!.clone()
    const node = syncNode(copy, copy.contents, value) as {commentBefore?: string | null; comment?: string | null}
    // The comments around the contents stay in the text around the span.
    node.commentBefore = null
    node.comment = null
    const holder = new Document(null, YAML_OPTIONS)
    holder.contents = node as never
    text = holder.toString(toStringOptions(d.style))
  } else {
    text = new Document(value, YAML_OPTIONS).toString(toStringOptions(d.style))
  }
  return {start, end, text}
}

/**
 * The YAML text of one source after the transform: its own text with each changed document's
 * edits spliced in. `values[i]` is the new value of `parsed.docs[i]`. Each changed document is
 * checked on its own: its new text, parsed alone, must be one document holding exactly the new
 * value (edits stay inside their document's span, so the others are their own bytes); a
 * document that fails is rewritten whole (comments kept, else from its value) and checked again.
 */
export function renderYamlSource(parsed: ParsedSource, values: unknown[], rewritten: Rewritten[] = []): string {
  const text = parsed.source.text
  if (parsed.json) return joinYaml(parsed.docs.map((d, i) => new Document(values[i], YAML_OPTIONS).toString(toStringOptions(d.style))))
  const edits: Edit[] = []
  const all = parsed.docs
  parsed.docs.forEach((d, i) => {
    if (values[i] === d.value || deepEqual(values[i], d.value)) return
    const [start, , end] = d.doc!.range ?? [0, 0, text.length]
    // The directives just before the document (%YAML, %TAG) go with it into the check.
    const previousEnd = i > 0 ? all[i - 1]!.doc!.range?.[2] ?? 0 : 0
    const directives = text.slice(previousEnd, start).split('\n').filter((l) => l.startsWith('%')).map((l) => l + '\n').join('')
    // 0: splice; 1: rewrite keeping comments; 2: rewrite from the value.
    for (let tier = 0; tier <= 2; tier++) {
      let mine: Edit[]
      try {
        mine = tier === 0 ? spliceEdits(text, d.doc!.contents, d.value, values[i], d.style, false, [start, end]) : [endsAligned(text, rewriteContents(d, values[i], tier === 1))]
      } catch (error) {
        if (!(error instanceof Unsupported)) throw error
        continue
      }
      if (mine.every((e) => e.start >= start && e.end <= end) && holds(directives, text.slice(start, end), mine, start, values[i])) {
        edits.push(...mine)
        if (tier > 0) rewritten.push({source: d.source, index: d.index, commentsKept: keptComments(text.slice(start, end), mine, start)})
        return
      }
    }
    throw new MeshError(`${parsed.source.name}: document ${d.index} could not be written back faithfully`, {
      code: 'MESH_INTERNAL',
      suggestions: ['Please report this with the input (MESH_DEBUG=1 shows more); `-o json` writes the values instead.'],
    })
  })
  return edits.length === 0 ? text : applyEdits(text, edits)
}

/** A rewrite of a span that ended with a newline ends with one too, and the other way round. */
function endsAligned(text: string, e: Edit): Edit {
  const wantsNl = e.end > e.start && text[e.end - 1] === '\n'
  const body = e.text.replace(/\n+$/, '')
  return {...e, text: wantsNl ? body + '\n' : body}
}

/** Whether every comment of the document's text is still there after `edits`. */
function keptComments(segment: string, edits: Edit[], offset: number): boolean {
  const after = applyEdits(segment, edits.map((e) => ({...e, start: e.start - offset, end: e.end - offset})))
  const left = commentTexts(after).map((c) => c.replace(/^#\s*/, ''))
  const count = new Map<string, number>()
  for (const c of left) count.set(c, (count.get(c) ?? 0) + 1)
  return commentTexts(segment).every((c) => {
    const k = c.replace(/^#\s*/, '')
    const n = count.get(k) ?? 0
    count.set(k, n - 1)
    return n > 0
  })
}

/** Whether `segment` (a document's text, at `offset` in its source) with `edits` parses to `value` alone. */
function holds(directives: string, segment: string, edits: Edit[], offset: number, value: unknown): boolean {
  let out: string
  try {
    out = directives + applyEdits(segment, edits.map((e) => ({...e, start: e.start - offset, end: e.end - offset})))
  } catch (error) {
    if (error instanceof Unsupported) return false
    throw error
  }
  const again = parseAllDocuments(out, PARSE_OPTIONS)
  if (!Array.isArray(again) || again.length !== 1 || again[0]!.errors.length > 0) return false
  try {
    return deepEqual(again[0]!.toJS({maxAliasCount: MAX_ALIAS_COUNT}), value)
  } catch {
    return false
  }
}

/**
 * The stream of several sources: each source's text as it is, a `---` between two sources
 * unless the second starts with its own marker or directive.
 */
export function joinYaml(texts: string[]): string {
  let out = ''
  for (const t of texts) {
    if (t === '') continue
    if (out !== '') {
      if (!out.endsWith('\n')) out += '\n'
      if (!/^(\uFEFF)?(---|%)/.test(t)) out += '---\n'
    }
    out += t
  }
  return out
}

/**
 * A JSON source of one document, written as JSON: its own text with the changes spliced in (in
 * its layout), when that parses back to `value`; else `value` printed.
 */
export function renderJsonSource(parsed: ParsedSource, value: unknown): string {
  const text = parsed.source.text
  const d = parsed.docs[0]!
  if (value === d.value || deepEqual(value, d.value)) return text
  try {
    const tree = parseAllDocuments(text, PARSE_OPTIONS)
    if (Array.isArray(tree) && tree.length === 1 && tree[0]!.errors.length === 0) {
      const out = applyEdits(text, spliceEdits(text, tree[0]!.contents, d.value, value, {indent: jsonIndent(text), indentSeq: true}, true))
      if (deepEqual(JSON.parse(out), value)) return out
    }
  } catch (error) {
    if (!(error instanceof Unsupported) && !(error instanceof SyntaxError)) throw error
  }
  return renderJson([value])
}

/** The indentation step of pretty-printed JSON (2 when it cannot tell). */
function jsonIndent(text: string): number {
  const m = /\n( +)\S/.exec(text)
  return m ? m[1]!.length : 2
}

/** JSON out: one document as itself, several as a `kind: List` kubectl accepts. */
export function renderJson(values: unknown[]): string {
  const value = values.length === 1 ? values[0] : {apiVersion: 'v1', kind: 'List', items: values}
  return JSON.stringify(value, null, 2) + '\n'
}
