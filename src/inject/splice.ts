// Writes a transformed value back into the user's text by splicing: only the parts whose value
// changed are rewritten, every other byte stays as the user wrote it (comments, the spaces
// before them, quoting, indentation, blank lines, CRLF). The parsed `yaml` tree gives each node's
// offsets in the source; edits are computed against those offsets:
//
// - a block map: a key that goes is deleted with its lines; new keys are rendered and inserted
//   after the last pair, at the map's indentation; kept keys recurse;
// - a block sequence: items are matched as the transform matches them (by `name`, else by
//   position); unmatched old items are deleted with their lines, new ones inserted in place
//   (above the comment lines of the item they precede), matched ones recurse;
// - a flow collection ({app: web}, JSON): items are deleted or inserted with their commas, in
//   flow style (JSON for a JSON source);
// - anything else that changed (a scalar, a collection of another kind) is replaced in place
//   by its rendering, in the shape its position needs (after `key:`, after `- `, in a flow).
//
// The caller checks the result by parsing it again; a document this cannot express (merge
// keys, anchors whose aliases would change, odd layouts) is written another way (stream.ts).
import {isAlias, isMap, isScalar, isSeq, Document, Parser, type Node, type Pair, type YAMLMap, type YAMLSeq} from 'yaml'
import {deepEqual} from './yaml-sync.js'

export interface Edit {
  start: number
  end: number
  text: string
}

export interface SpliceStyle {
  indent: number
  indentSeq: boolean
}

/** Recent renderings (key: style and value), oldest first. */
const RENDERED = new Map<string, string>()

/** A layout this module does not edit; the caller writes the document another way. */
export class Unsupported extends Error {}

type Place =
  | {kind: 'top'}
  /** The value of a block map pair; `colon`: the offset just after its `:`. */
  | {kind: 'map-value'; keyColumn: number; colon: number}
  | {kind: 'seq-item'; dashColumn: number}
  | {kind: 'flow'}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

interface TagLike {
  tag?: string
  format?: string
  test?: RegExp
}

/** `0o17` is 15 to go-yaml too (parse only: numbers are never printed this way). */
const INT_OCT_O = {
  identify: () => false,
  default: true,
  tag: 'tag:yaml.org,2002:int',
  format: 'OCT',
  test: /^[-+]?0o[0-7_]+$/,
  resolve: (str: string) => (str.startsWith('-') ? -1 : 1) * parseInt(str.replace(/^[-+]?0o/, '').replace(/_/g, ''), 8),
}

/**
 * YAML 1.1's tags as Kubernetes reads them (go-yaml; test/integration/yaml-reading.test.ts
 * compares with kubectl): without the timestamp tag, so dates stay strings; without base 60
 * (`12:30` is a string, not 750); with floats that need a digit (`yaml`'s 1.1 float patterns
 * also match `e0`, `.e5` and `.`, which would read as NaN: a namespace `e0` is a string to the
 * API server); and with `0o17` as an octal int.
 */
export function kubernetesTags(tags: unknown[]): never {
  return [...tags, INT_OCT_O]
    .filter((t) => (t as TagLike).tag !== 'tag:yaml.org,2002:timestamp' && (t as TagLike).format !== 'TIME')
    .map((t) => {
      const tag = t as TagLike
      if (tag.tag !== 'tag:yaml.org,2002:float' || !tag.test) return t
      if (tag.format === 'EXP') return {...tag, test: /^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$/}
      if (/nan/.test(tag.test.source)) return t
      return {...tag, test: /^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)$/}
    }) as never
}

/** How every stream is parsed and every new part rendered: YAML 1.1 as Kubernetes reads it. */
export const YAML_OPTIONS = {version: '1.1' as const, customTags: kubernetesTags}
const RENDER_DOC_OPTIONS = YAML_OPTIONS

class Splicer {
  private readonly edits: Edit[] = []
  private readonly deletions: [number, number][] = []
  readonly eol: string

  /** Offsets of the comments in the document's span, read from its CST when first needed. */
  private comments: number[] | undefined

  constructor(
    private readonly src: string,
    private readonly style: SpliceStyle,
    private readonly json: boolean,
    private readonly span: [number, number] = [0, src.length],
  ) {
    const lf = src.indexOf('\n')
    this.eol = lf > 0 && src[lf - 1] === '\r' ? '\r\n' : '\n'
  }

  // ---- text positions ----

  /** Where the line holding `off` starts (after a BOM on the first line: it takes no column). */
  private lineStart(off: number): number {
    const start = this.src.lastIndexOf('\n', off - 1) + 1
    return start === 0 && this.src.charCodeAt(0) === 0xfeff && off > 0 ? 1 : start
  }

  private column(off: number): number {
    return off - this.lineStart(off)
  }

  /** The offset just after the newline that ends the line holding `off - 1` (or the text's end). */
  private lineEndAfter(off: number): number {
    if (off > 0 && this.src[off - 1] === '\n') return off
    const nl = this.src.indexOf('\n', off)
    return nl < 0 ? this.src.length : nl + 1
  }

  /** The indentation of the line holding `off`. */
  private indentOf(off: number): number {
    const start = this.lineStart(off)
    return /^[ \t]*/.exec(this.src.slice(start, off))![0].length
  }

  /** Only spaces between the line's start and `off`. */
  private startsLine(off: number): boolean {
    return /^[ \t]*$/.test(this.src.slice(this.lineStart(off), off))
  }

  private add(start: number, end: number, text: string): void {
    this.edits.push({start, end, text: this.eol === '\n' ? text : text.replace(/\r?\n/g, this.eol)})
  }

  /**
   * Deletes whole lines [start, end). At the end of a text without a final newline, the newline
   * before them goes too, so what an insertion there added (insertLines) comes out again.
   */
  private deleteLines(start: number, end: number): void {
    this.deletions.push([start, end])
  }

  /** The edits: deletions of adjacent lines merged, the one that reaches a text's unterminated end taking the newline before it. */
  finish(): Edit[] {
    const runs: [number, number][] = []
    for (const [start, end] of [...this.deletions].sort((a, b) => a[0] - b[0])) {
      const last = runs.at(-1)
      if (last && start <= last[1]) last[1] = Math.max(last[1], end)
      else runs.push([start, end])
    }
    const tail = runs.at(-1)
    if (tail && tail[1] === this.src.length && this.src[tail[1] - 1] !== '\n' && tail[0] > 0 && this.src[tail[0] - 1] === '\n') {
      tail[0] -= this.src[tail[0] - 2] === '\r' ? 2 : 1
    }
    return [...this.edits, ...runs.map(([start, end]) => ({start, end, text: ''}))]
  }

  /** Inserts whole lines at `at` (a line start, or the text's end without a final newline). */
  private insertLines(at: number, lines: string[]): void {
    const atEnd = at === this.src.length && at > 0 && this.src[at - 1] !== '\n'
    this.add(at, at, (atEnd ? '\n' : '') + lines.join('\n') + (atEnd ? '' : '\n'))
  }

  // ---- rendering ----

  private render(value: unknown, flow = false): string {
    if (flow && this.json) return JSON.stringify(value)
    // Workloads get the same parts (volumes, the init container, ...): print each once.
    const key = `${flow ? 'f' : 'b'}${this.style.indent}${this.style.indentSeq ? 's' : ''}${JSON.stringify(value)}`
    const hit = RENDERED.get(key)
    if (hit !== undefined) return hit
    const doc = new Document(value, RENDER_DOC_OPTIONS)
    const text = doc.toString({indent: this.style.indent, indentSeq: this.style.indentSeq, lineWidth: 0, flowCollectionPadding: false, ...(flow ? {collectionStyle: 'flow' as const} : {})})
    if (RENDERED.size >= 512) RENDERED.delete(RENDERED.keys().next().value!)
    RENDERED.set(key, text)
    return text
  }

  /** Lines of a block rendering (no final empty line). */
  private lines(text: string): string[] {
    const lines = text.split('\n')
    if (lines.at(-1) === '') lines.pop()
    return lines
  }

  private pad(lines: string[], column: number): string[] {
    const p = ' '.repeat(column)
    return lines.map((l) => (l === '' ? l : p + l))
  }

  // ---- the walk ----

  patch(node: unknown, old: unknown, value: unknown, place: Place): void {
    if (deepEqual(old, value)) return
    if (isMap(node) && isObj(value) && isObj(old) && this.patchMap(node, old, value)) return
    if (isSeq(node) && Array.isArray(value) && Array.isArray(old) && this.patchSeq(node, old, value)) return
    this.replace(node as Node | null, value, place)
  }

  /** A pair's key as the value has it; '<<' for a merge key; undefined for a key with no simple text. */
  private keyOf(pair: Pair): string | undefined {
    if (!isScalar(pair.key) || !pair.key.range) return undefined
    return typeof pair.key.value === 'symbol' ? '<<' : String(pair.key.value)
  }

  private patchMap(map: YAMLMap, old: Obj, value: Obj): boolean {
    const keys = map.items.map((p) => this.keyOf(p))
    // Merge keys make the pairs and the value disagree; complex keys have no simple text.
    if (keys.some((k) => k === undefined || k === '<<') || !map.range) return false
    if (!map.items.some((p) => Object.hasOwn(value, this.keyOf(p)!))) return false
    const present = new Set(keys as string[])
    const added = Object.keys(value).filter((k) => !present.has(k) && value[k] !== undefined)
    return map.flow ? this.patchFlowMap(map, old, value, added) : this.patchBlockMap(map, old, value, added)
  }

  private patchBlockMap(map: YAMLMap, old: Obj, value: Obj, added: string[]): boolean {
    const pairs = map.items as Pair<Node, Node | null>[]
    const first = pairs[0]!.key as Node
    const column = this.column(first.range![0])
    // A pair that does not start its line (the first one after `- `) cannot go alone.
    for (const p of pairs) {
      if (!Object.hasOwn(value, this.keyOf(p)!) && !this.startsLine((p.key as Node).range![0])) return false
    }
    for (const p of pairs) {
      const k = this.keyOf(p)!
      const keyNode = p.key as Node
      if (!Object.hasOwn(value, k)) {
        this.deleteLines(this.lineStart(keyNode.range![0]), this.lineEndAfter(this.pairEnd(p)))
        continue
      }
      this.patch(p.value, old[k], value[k], {kind: 'map-value', keyColumn: column, colon: this.colonAfter(keyNode)})
    }
    if (added.length > 0) {
      const at = this.lineEndAfter(this.pairEnd(pairs.at(-1)!))
      // Pair by pair (the same as the map at once, in block style), so repeated parts print once.
      this.insertLines(at, this.pad(added.flatMap((k) => this.lines(this.render({[k]: value[k]}))), column))
    }
    return true
  }

  /**
   * Where a node's content ends: its last descendant's value, not the comment lines a block
   * collection's range runs on to (they may belong to what follows, or be the user's notes).
   */
  private contentEnd(node: Node): number {
    if (!node.range) throw new Unsupported('a node without a position')
    if ((isMap(node) || isSeq(node)) && !node.flow && node.items.length > 0) {
      const last = node.items.at(-1) as Node | Pair<Node, Node | null>
      if (isMap(node)) return this.pairEnd(last as Pair<Node, Node | null>)
      return last ? this.contentEnd(last as Node) : node.range[1]
    }
    return node.range[1]
  }

  private pairEnd(p: Pair<Node, Node | null>): number {
    if (p.value?.range) return this.contentEnd(p.value)
    return this.colonAfter(p.key)
  }

  /** The offset just after the `:` that follows a key. */
  private colonAfter(key: Node): number {
    const i = this.src.indexOf(':', key.range![1])
    if (i < 0) throw new Unsupported('no ":" after a key')
    return i + 1
  }

  private patchSeq(seq: YAMLSeq, old: unknown[], value: unknown[]): boolean {
    if (value.length === 0 || !seq.range) return false
    const items = seq.items as (Node | null)[]
    if (items.some((n) => !n || !n.range)) return false
    // Match new items to old ones as the transform does: by name, else by position.
    const nameOf = (v: unknown): unknown => (isObj(v) ? v.name : undefined)
    const used = new Set<number>()
    const match = value.map((v, i) => {
      const name = nameOf(v)
      let j = -1
      if (name !== undefined) j = old.findIndex((o, k) => !used.has(k) && nameOf(o) === name)
      else if (i < old.length && !used.has(i) && nameOf(old[i]) === undefined) j = i
      if (j >= 0) used.add(j)
      return j
    })
    const kept = match.filter((j) => j >= 0)
    if (kept.length === 0 || kept.some((j, i) => i > 0 && j <= kept[i - 1]!)) return false
    return seq.flow ? this.patchFlowSeq(seq, old, value, match) : this.patchBlockSeq(seq, old, value, match)
  }

  /** The offset of the `-` of a block sequence item, when it starts its line. */
  private dashOf(item: Node): number | undefined {
    let i = item.range![0] - 1
    while (i >= 0 && (this.src[i] === ' ' || this.src[i] === '\t')) i--
    if (this.src[i] !== '-' || !this.startsLine(i)) return undefined
    return i
  }

  private patchBlockSeq(seq: YAMLSeq, old: unknown[], value: unknown[], match: number[]): boolean {
    const items = seq.items as Node[]
    const dashes = items.map((n) => this.dashOf(n))
    if (dashes.some((d) => d === undefined)) return false
    const dashColumn = this.column(dashes[0]!)
    const matched = new Set(match)
    items.forEach((n, j) => {
      if (!matched.has(j)) this.deleteLines(this.lineStart(dashes[j]!), this.lineEndAfter(this.contentEnd(n)))
    })
    let pending: unknown[] = []
    const flush = (at: number): void => {
      if (pending.length === 0) return
      this.insertLines(at, this.pad(pending.flatMap((v) => this.lines(this.render([v]))), dashColumn))
      pending = []
    }
    value.forEach((v, i) => {
      const j = match[i]!
      if (j < 0) {
        pending.push(v)
        return
      }
      // New items go above the comment lines of the item they precede.
      flush(this.aboveComments(this.lineStart(dashes[j]!)))
      this.patch(items[j], old[j], v, {kind: 'seq-item', dashColumn})
    })
    const last = items.at(-1)!
    flush(this.lineEndAfter(this.contentEnd(last)))
    return true
  }

  /** Moves a line start up over the comment-only lines right above it. */
  private aboveComments(at: number): number {
    let pos = at
    while (pos > 0) {
      const prev = this.lineStart(pos - 1)
      if (!/^[ \t]*#/.test(this.src.slice(prev, pos))) break
      pos = prev
    }
    return pos
  }

  // ---- flow collections ----

  private itemSpan(n: {key?: unknown; value?: unknown} | Node): [number, number] {
    if (isScalar(n) || isMap(n) || isSeq(n) || isAlias(n)) return [n.range![0], n.range![1]]
    const p = n as Pair<Node, Node | null>
    return [p.key.range![0], p.value?.range ? p.value.range[1] : this.colonAfter(p.key)]
  }

  /** Deletes runs of flow items with their commas; `keep[i]` says which stay. */
  private deleteFlowItems(spans: [number, number][], keep: boolean[]): void {
    let i = 0
    while (i < spans.length) {
      if (keep[i]) {
        i++
        continue
      }
      let j = i
      while (j + 1 < spans.length && !keep[j + 1]) j++
      if (j + 1 < spans.length) this.add(spans[i]![0], spans[j + 1]![0], '')
      else if (i > 0) this.add(spans[i - 1]![1], spans[j]![1], '')
      else this.add(spans[i]![0], spans[j]![1], '')
      i = j + 1
    }
  }

  /** How new items are laid out in this flow collection: on its line, or one per line at a column. */
  private flowLayout(spans: [number, number][], open: number): {sep: string; column?: number} {
    const firstStart = spans[0]![0]
    if (!this.src.slice(open, firstStart).includes('\n')) return {sep: ', '}
    const column = this.column(firstStart)
    return {sep: ',\n' + ' '.repeat(column), column}
  }

  /**
   * A value in flow style: JSON in a JSON source (pretty when the collection spans lines), else
   * YAML's flow; continuation lines (a long or multi-line value) are indented past `base`, the
   * indentation of the block the collection sits in.
   */
  private flowValue(v: unknown, column?: number, base = 0): string {
    if (!this.json) return this.render(v, true).trim().split('\n').join('\n' + ' '.repeat(base + this.style.indent))
    if (column === undefined) return oneLineJson(v)
    return JSON.stringify(v, null, this.style.indent).split('\n').join('\n' + ' '.repeat(column))
  }

  private renderFlowPair(k: string, v: unknown, column?: number, base = 0): string {
    if (this.json) return `${JSON.stringify(k)}: ${this.flowValue(v, column)}`
    return this.flowValue({[k]: v}, undefined, base).slice(1, -1)
  }

  private patchFlowMap(map: YAMLMap, old: Obj, value: Obj, added: string[]): boolean {
    const pairs = map.items as Pair<Node, Node | null>[]
    const spans = pairs.map((p) => this.itemSpan(p))
    const keep = pairs.map((p) => Object.hasOwn(value, this.keyOf(p)!))
    this.deleteFlowItems(spans, keep)
    pairs.forEach((p, i) => {
      if (keep[i]) this.patch(p.value, old[this.keyOf(p)!], value[this.keyOf(p)!], {kind: 'flow'})
    })
    if (added.length > 0) {
      const {sep, column} = this.flowLayout(spans, map.range![0])
      const lastKept = spans.filter((_, i) => keep[i]).at(-1)!
      const base = this.indentOf(map.range![0])
      this.add(lastKept[1], lastKept[1], added.map((k) => sep + this.renderFlowPair(k, value[k], column, base)).join(''))
    }
    return true
  }

  private patchFlowSeq(seq: YAMLSeq, old: unknown[], value: unknown[], match: number[]): boolean {
    const items = seq.items as Node[]
    const spans = items.map((n) => this.itemSpan(n))
    const matched = new Set(match)
    this.deleteFlowItems(spans, items.map((_, j) => matched.has(j)))
    const {sep, column} = this.flowLayout(spans, seq.range![0])
    let pending: unknown[] = []
    const base = this.indentOf(seq.range![0])
    const rendered = (): string[] => pending.map((v) => this.flowValue(v, column, base))
    let lastEnd = -1
    value.forEach((v, i) => {
      const j = match[i]!
      if (j < 0) {
        pending.push(v)
        return
      }
      if (pending.length > 0) {
        this.add(spans[j]![0], spans[j]![0], rendered().map((t) => t + sep).join(''))
        pending = []
      }
      this.patch(items[j], old[j], v, {kind: 'flow'})
      lastEnd = spans[j]![1]
    })
    if (pending.length > 0) this.add(lastEnd, lastEnd, rendered().map((t) => sep + t).join(''))
    return true
  }

  // ---- replacing a node ----

  /** Whether a comment starts in [start, end). */
  private hasComment(start: number, end: number): boolean {
    if (!this.src.slice(start, end).includes('#')) return false
    this.comments ??= commentOffsets(this.src.slice(this.span[0], this.span[1])).map((o) => o + this.span[0])
    return this.comments.some((o) => o >= start && o < end)
  }

  private replace(node: Node | null, value: unknown, place: Place): void {
    if (node && !node.range) throw new Unsupported('a node without a position')
    if (node && (node as {anchor?: string}).anchor) throw new Unsupported('an anchored node changes')
    // Replacing text that holds comments would lose them: the document is written another way.
    if (node && this.hasComment(node.range![0], node.range![1])) throw new Unsupported('a node with comments inside changes')
    switch (place.kind) {
      case 'flow': {
        if (!node) throw new Unsupported('an empty flow item')
        const multiline = this.src.slice(node.range![0], node.range![1]).includes('\n')
        const base = this.indentOf(node.range![0])
        this.add(node.range![0], node.range![1], this.flowValue(value, multiline ? base : undefined, base))
        return
      }
      case 'top': {
        if (!node) throw new Unsupported('an empty document')
        const [start, end] = node.range!
        const lines = this.pad(this.lines(this.render(value)), this.column(start))
        lines[0] = lines[0]!.trimStart()
        this.add(start, end, lines.join('\n') + (this.src[end - 1] === '\n' ? '\n' : ''))
        return
      }
      case 'seq-item': {
        if (!node) throw new Unsupported('an empty sequence item')
        const [start, end] = node.range!
        const lines = this.lines(this.render([value]))
        const text = [lines[0]!.slice(2), ...this.pad(lines.slice(1), place.dashColumn)].join('\n')
        this.add(start, end, text + (this.src[end - 1] === '\n' ? '\n' : ''))
        return
      }
      case 'map-value': {
        const lines = this.lines(this.render({__k: value}))
        const first = lines[0]!.slice('__k:'.length)
        const rest = this.pad(lines.slice(1), place.keyColumn)
        const start = node ? node.range![0] : place.colon
        const end = node ? node.range![1] : place.colon
        const between = this.src.slice(place.colon, start)
        if (between.includes('#')) {
          // `key: # comment` then the value on its own lines: keep the comment where it is.
          const from = this.lineStart(start)
          const body = rest.length > 0 ? rest : [' '.repeat(place.keyColumn + this.style.indent) + first.trim()]
          this.add(from, end, body.join('\n') + (this.src[end - 1] === '\n' ? '\n' : ''))
          return
        }
        const endsLine = end > start && this.src[end - 1] === '\n'
        if (rest.length === 0) {
          // One line: `key: value` in place of the old value (the spacing before it kept).
          if (node && start > place.colon && /^[ \t]+$/.test(between)) this.add(start, end, first.trimStart() + (endsLine ? '\n' : ''))
          else this.add(place.colon, end, first + (endsLine ? '\n' : ''))
          return
        }
        if (endsLine) {
          this.add(place.colon, end, first + '\n' + rest.join('\n') + '\n')
          return
        }
        // The old value ends its line's content; a comment may follow it: the new lines go
        // after the line, the comment stays on the key's line.
        this.add(place.colon, end, first)
        const nl = this.src.indexOf('\n', end)
        const at = nl < 0 ? this.src.length : nl > 0 && this.src[nl - 1] === '\r' ? nl - 1 : nl
        this.add(at, at, '\n' + rest.join('\n'))
        return
      }
    }
  }
}

/** Where the comments of a YAML text start, from its CST (a `#` inside a scalar is no comment). */
export function commentOffsets(text: string): number[] {
  const out: number[] = []
  const walk = (t: unknown): void => {
    if (t === null || typeof t !== 'object') return
    if (Array.isArray(t)) return t.forEach(walk)
    const tok = t as {type?: string; offset?: number}
    if (tok.type === 'comment' && typeof tok.offset === 'number') out.push(tok.offset)
    for (const v of Object.values(t)) if (v !== null && typeof v === 'object') walk(v)
  }
  for (const token of new Parser().parse(text)) walk(token)
  return out
}

/** The text of each comment, in order. */
export function commentTexts(text: string): string[] {
  return commentOffsets(text).map((o) => {
    const nl = text.indexOf('\n', o)
    return text.slice(o, nl < 0 ? text.length : nl).trimEnd()
  })
}

/** JSON on one line as people write it: `{"a": 1, "b": [2, 3]}`. */
function oneLineJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(oneLineJson).join(', ')}]`
  if (isObj(v)) return `{${Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}: ${oneLineJson(x)}`).join(', ')}}`
  return JSON.stringify(v) ?? 'null'
}

/**
 * The edits that turn `src` (the text `doc` was parsed from) into the text of `value`, given
 * `old`, the value `doc` holds. Throws Unsupported for what it does not edit.
 */
export function spliceEdits(src: string, contents: unknown, old: unknown, value: unknown, style: SpliceStyle, json = false, span?: [number, number]): Edit[] {
  const s = new Splicer(src, style, json, span)
  s.patch(contents, old, value, json ? {kind: 'flow'} : {kind: 'top'})
  return s.finish()
}

/** Applies non-overlapping edits (an insertion before a deletion that starts at the same offset). */
export function applyEdits(src: string, edits: Edit[]): string {
  const sorted = edits.map((e, i) => ({e, i})).sort((a, b) => a.e.start - b.e.start || (a.e.end - a.e.start) - (b.e.end - b.e.start) || a.i - b.i)
  let out = ''
  let pos = 0
  for (const {e} of sorted) {
    if (e.start < pos) throw new Unsupported(`overlapping edits at ${e.start}`)
    out += src.slice(pos, e.start) + e.text
    pos = e.end
  }
  return out + src.slice(pos)
}
