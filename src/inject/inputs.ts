// Reads what the user named: files, directories (recursively, .yaml/.yml/.json), `-` for
// stdin, and https URLs. Every source is bounded in size; URLs in time and redirects.
import {isUtf8} from 'node:buffer'
import {readdir, readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import type {Readable} from 'node:stream'
import {InputError, UsageError} from '../lib/errors.js'
import type {Source} from './stream.js'

/** Largest input accepted from one file, stdin or URL. */
export const MAX_SOURCE_BYTES = 32 * 1024 * 1024
export const URL_TIMEOUT_MS = 30_000
const MAX_REDIRECTS = 5
const MANIFEST_FILE = /\.(ya?ml|json)$/i

export interface ReadOptions {
  stdin?: Readable
  /** Told when the command waits for a person to type (stdin is a terminal). */
  notice?: (line: string) => void
  /** Extra CA certificates for https URLs (tests use a self-signed server). */
  ca?: string | Buffer
  timeoutMs?: number
}

export async function readSources(inputs: string[], opts: ReadOptions = {}): Promise<Source[]> {
  if (inputs.length === 0) throw new UsageError('no input given', {suggestions: ['Pass a file, a directory, an https URL, or - for stdin: `mesh inject app.yaml`.']})
  if (inputs.filter((i) => i === '-').length > 1) throw new UsageError('stdin (-) can be read only once')
  const sources: Source[] = []
  for (const input of inputs) {
    if (input === '-') {
      const stdin = opts.stdin ?? process.stdin
      if ((stdin as Readable & {isTTY?: boolean}).isTTY) opts.notice?.('reading manifests from the terminal; end with Ctrl-D')
      sources.push({name: '<stdin>', text: await readStream(stdin, '<stdin>')})
    }
    else if (/^https?:\/\//i.test(input)) sources.push({name: input, text: await fetchUrl(input, opts)})
    else sources.push(...(await readPath(input)))
  }
  return sources
}

/**
 * The text of a manifest, which must be UTF-8 (a BOM is kept, and passed through): a byte that
 * is not would be replaced by U+FFFD and silently lost on output.
 */
export function decodeText(buf: Buffer, name: string): string {
  if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) {
    throw new InputError(`${name} is UTF-16 text (it starts with a UTF-16 byte order mark); manifests are read as UTF-8`, {
      code: 'MESH_INJECT_ENCODING',
      suggestions: [`Convert it first: \`iconv -f UTF-16 -t UTF-8 ${name}\`.`],
    })
  }
  if (!isUtf8(buf)) {
    // 0x0A is never part of a multi-byte sequence: the first line that does not decode is the place.
    let start = 0
    for (let line = 1; ; line++) {
      const nl = buf.indexOf(0x0a, start)
      const end = nl < 0 ? buf.length : nl
      if (!isUtf8(buf.subarray(start, end))) {
        throw new InputError(`${name}: line ${line} is not UTF-8 text (manifests must be UTF-8; the bytes there would be lost)`, {
          code: 'MESH_INJECT_ENCODING',
          suggestions: [`Convert the file to UTF-8, e.g. \`iconv -f LATIN1 -t UTF-8 ${name}\`, or fix line ${line}.`],
        })
      }
      if (nl < 0) break
      start = nl + 1
    }
  }
  const nul = buf.indexOf(0)
  if (nul >= 0) {
    const line = buf.subarray(0, nul).filter((b) => b === 0x0a).length + 1
    throw new InputError(`${name}: line ${line} holds a NUL byte: this is not a text manifest`, {code: 'MESH_INJECT_ENCODING', suggestions: ['Pass the YAML or JSON file itself.']})
  }
  return buf.toString('utf8')
}

function tooLarge(name: string): InputError {
  return new InputError(`${name} is larger than ${MAX_SOURCE_BYTES / 1024 / 1024} MiB`, {code: 'MESH_INJECT_TOO_LARGE', suggestions: ['Split the manifests into smaller files.']})
}

async function readStream(stream: Readable, name: string): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += buf.length
    if (size > MAX_SOURCE_BYTES) {
      stream.destroy()
      throw tooLarge(name)
    }
    chunks.push(buf)
  }
  return decodeText(Buffer.concat(chunks), name)
}

async function readPath(path: string): Promise<Source[]> {
  let info
  try {
    info = await stat(path)
  } catch {
    throw new InputError(`${path}: no such file or directory`, {code: 'MESH_INJECT_NO_INPUT', suggestions: ['Check the path, or pass - to read from stdin.']})
  }
  if (info.isDirectory()) {
    const entries = (await readdir(path, {recursive: true, withFileTypes: true}))
      .filter((e) => e.isFile() && MANIFEST_FILE.test(e.name))
      .map((e) => join(e.parentPath, e.name))
      .sort()
    const out: Source[] = []
    for (const file of entries) out.push(...(await readPath(file)))
    return out
  }
  if (info.size > MAX_SOURCE_BYTES) throw tooLarge(path)
  return [{name: path, text: decodeText(await readFile(path), path)}]
}

async function fetchUrl(url: string, opts: ReadOptions, redirects = 0): Promise<string> {
  if (!url.toLowerCase().startsWith('https://')) {
    throw new InputError(`${url}: only https URLs are read`, {code: 'MESH_INJECT_URL', suggestions: [`Use ${url.replace(/^http:/i, 'https:')}, or download the file and pass its path.`]})
  }
  const https = await import('node:https')
  return new Promise<string>((resolve, reject) => {
    const fail = (message: string, cause?: unknown) => reject(new InputError(`${url}: ${message}`, {code: 'MESH_INJECT_URL', cause, suggestions: ['Check the URL in a browser or with `curl -fsSL <url>`.']}))
    const req = https.get(url, {ca: opts.ca, timeout: opts.timeoutMs ?? URL_TIMEOUT_MS, headers: {accept: 'application/yaml, application/json, text/plain, */*'}}, (res) => {
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400 && res.headers.location && redirects < MAX_REDIRECTS) {
        res.resume()
        fetchUrl(new URL(res.headers.location, url).toString(), opts, redirects + 1).then(resolve, reject)
        return
      }
      if (status !== 200) {
        res.resume()
        fail(`the server answered ${status} ${res.statusMessage ?? ''}`.trimEnd() + ', not 200')
        return
      }
      const declared = Number(res.headers['content-length'] ?? 0)
      if (declared > MAX_SOURCE_BYTES) {
        res.destroy()
        reject(tooLarge(url))
        return
      }
      readStream(res, url).then(resolve, reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${(opts.timeoutMs ?? URL_TIMEOUT_MS) / 1000} s`)))
    req.on('error', (error) => fail(error.message, error))
  })
}
