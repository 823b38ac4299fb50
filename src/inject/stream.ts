// YAML and JSON streams in and out. YAML is parsed as Kubernetes reads it (YAML 1.1, minus
// the timestamp tag so dates stay strings) into editable documents that keep comments; the
// transformed value is synced back into each document so untouched text survives.
import {Document, parseAllDocuments, type ToStringOptions} from 'yaml'
import {InputError} from '../lib/errors.js'
import {syncNode} from './yaml-sync.js'

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

/** Aliases expanded per document at most this many times (billion-laughs guard). */
const MAX_ALIAS_COUNT = 100

const PARSE_OPTIONS = {
  version: '1.1' as const,
  customTags: (tags: unknown[]) => tags.filter((t) => (t as {tag?: string}).tag !== 'tag:yaml.org,2002:timestamp') as never,
  prettyErrors: false,
}

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
  if (isJsonText(src.text)) return parseJson(src)
  const style = sniffStyle(src.text)
  const docs = parseAllDocuments(src.text, PARSE_OPTIONS)
  if (!Array.isArray(docs)) return [] // an empty stream
  const out: ParsedDoc[] = []
  docs.forEach((doc, i) => {
    const error = doc.errors[0]
    if (error) {
      const line = error.linePos?.[0].line ?? lineOf(src.text, error.pos[0])
      throw new InputError(`${src.name}: line ${line}: malformed YAML: ${error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`, {
        code: 'MESH_INJECT_MALFORMED',
        suggestions: [`Fix the YAML near line ${line} of ${src.name}, then run the command again.`],
      })
    }
    if (doc.contents === null) return // empty document, e.g. a trailing `---`
    let value: unknown
    try {
      value = doc.toJS({maxAliasCount: MAX_ALIAS_COUNT})
    } catch (error) {
      throw new InputError(`${src.name}: document ${i + 1}: ${(error as Error).message}`, {code: 'MESH_INJECT_MALFORMED', cause: error})
    }
    if (value === null || value === undefined) return // empty document, e.g. a trailing `---`
    out.push({source: src.name, index: i + 1, value, doc, style})
  })
  return out
}

function parseJson(src: Source): ParsedDoc[] {
  try {
    return [{source: src.name, index: 1, value: JSON.parse(src.text), style: {indent: 2, indentSeq: true}}]
  } catch (error) {
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

/** One YAML document's text for a (possibly transformed) value, keeping what did not change. */
export function renderYamlDoc(d: ParsedDoc, value: unknown): string {
  if (!d.doc) return new Document(value, {version: '1.1'}).toString(toStringOptions(d.style))
  if (value !== d.value) d.doc.contents = syncNode(d.doc, d.doc.contents, value) as never
  return d.doc.toString(toStringOptions(d.style))
}

/**
 * The stream: documents in input order, separated by `---` (a document that starts with its
 * own marker keeps it). Empty documents are not written.
 */
export function joinYaml(texts: string[]): string {
  return texts.map((t, i) => {
    const text = t.endsWith('\n') ? t : t + '\n'
    return i === 0 || /^(---|%)/.test(text) ? text : '---\n' + text
  }).join('')
}

/** JSON out: one document as itself, several as a `kind: List` kubectl accepts. */
export function renderJson(values: unknown[]): string {
  const value = values.length === 1 ? values[0] : {apiVersion: 'v1', kind: 'List', items: values}
  return JSON.stringify(value, null, 2) + '\n'
}
