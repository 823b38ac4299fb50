// What `mesh inject` and `mesh uninject` do, end to end: resolve the config (cluster, or
// defaults and flags), read the inputs, transform, write the stream, then the report.
// Nothing reaches stdout unless every document was transformed.
import {X509Certificate} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import type {Readable} from 'node:stream'
import type {KubeOptions} from '../k8s/client.js'
import {InputError, MeshError, UsageError} from '../lib/errors.js'
import type {Output} from '../lib/output.js'
import {CONFIG_PREFIX} from './constants.js'
import {defaultConfig, type MeshConfig} from './config.js'
import {readSources} from './inputs.js'
import {AnnotationValueError, CONFIG_OPTIONS, optionsFromConfig} from './options.js'
import {renderReport, type ReportLine} from './report.js'
import {transformSources, type OutputFormat} from './transform.js'

export interface RunOptions {
  mode: 'inject' | 'uninject'
  inputs: string[]
  output?: OutputFormat
  quiet: boolean
  verbose: boolean
  createdBy: string
  native: boolean
  annotateOnly: boolean
  ingress: boolean
  ignoreCluster: boolean
  trustAnchorsFile?: string
  /** How to reach the cluster (--kubeconfig, --context, --request-timeout). */
  kube?: KubeOptions
  namespace?: string
  /** Option name (as in config.mesh.dev/<option>) -> value, from flags. */
  proxyFlags: Record<string, string | undefined>
  /** For tests: stdin and the CA for https inputs. */
  stdin?: Readable
  ca?: string | Buffer
}

/** The flag for each config.mesh.dev/<option> that has one. */
export const FLAG_FOR_OPTION: Record<string, string> = {
  'proxy-image': 'proxy-image',
  'proxy-version': 'proxy-version',
  'proxy-log-level': 'proxy-log-level',
  'skip-inbound-ports': 'skip-inbound-ports',
  'skip-outbound-ports': 'skip-outbound-ports',
  'opaque-ports': 'opaque-ports',
  'proxy-routes': 'proxy-routes',
  'inbound-policy': 'inbound-policy',
  'proxy-cpu-request': 'proxy-cpu-request',
  'proxy-cpu-limit': 'proxy-cpu-limit',
  'proxy-memory-request': 'proxy-memory-request',
  'proxy-memory-limit': 'proxy-memory-limit',
  'proxy-uid': 'proxy-uid',
}

/** Validates flag values with the annotation parsers and returns them as annotations. */
export function flagAnnotations(flags: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  const probe = optionsFromConfig(defaultConfig())
  for (const [option, value] of Object.entries(flags)) {
    if (value === undefined) continue
    const key = `${CONFIG_PREFIX}/${option}`
    const flag = `--${FLAG_FOR_OPTION[option] ?? option}`
    try {
      // Named as the flag: the errors of values with their own syntax name it.
      CONFIG_OPTIONS[option](probe, flag, value)
    } catch (error) {
      if (!(error instanceof AnnotationValueError)) throw error
      if (error.detail) throw new UsageError(error.detail.problem, {code: 'MESH_INJECT_FLAG', suggestions: [error.detail.fix]})
      throw new UsageError(`${flag}: "${value}" is not ${error.expected}`, {code: 'MESH_INJECT_FLAG'})
    }
    out[key] = value
  }
  return out
}

export async function readTrustAnchors(file: string): Promise<string> {
  let pem: string
  try {
    pem = await readFile(file, 'utf8')
  } catch {
    throw new InputError(`--identity-trust-anchors-file ${file}: cannot read the file`, {code: 'MESH_INJECT_ANCHORS', suggestions: ['Pass the PEM file of your root CA, e.g. the ca.crt `mesh install` used.']})
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) throw new InputError(`--identity-trust-anchors-file ${file}: no PEM certificate in the file`, {code: 'MESH_INJECT_ANCHORS'})
  for (const block of blocks) {
    try {
      new X509Certificate(block)
    } catch (error) {
      throw new InputError(`--identity-trust-anchors-file ${file}: a certificate cannot be parsed: ${(error as Error).message}`, {code: 'MESH_INJECT_ANCHORS', cause: error})
    }
  }
  return blocks.join('\n') + '\n'
}

async function resolveConfig(o: RunOptions): Promise<MeshConfig> {
  const anchors = o.trustAnchorsFile ? await readTrustAnchors(o.trustAnchorsFile) : undefined
  if (o.mode === 'uninject' || o.annotateOnly) return defaultConfig()
  if (o.ignoreCluster) {
    if (!anchors) {
      throw new UsageError('--ignore-cluster needs the trust anchors the proxies verify peers against', {
        code: 'MESH_INJECT_ANCHORS',
        suggestions: ['Pass --identity-trust-anchors-file <ca.pem> (the root certificate the control plane was installed with).'],
      })
    }
    return defaultConfig({trustAnchorsPEM: anchors})
  }
  const {loadClusterConfig} = await import('./cluster.js')
  const config = await loadClusterConfig(o.kube ?? {})
  return anchors ? {...config, trustAnchorsPEM: anchors} : config
}

export function printReport(out: Output, lines: ReportLine[]): void {
  for (const line of lines) {
    if (line.level === 'ok') out.success(line.text)
    else if (line.level === 'warn') out.warn(line.text)
    else if (line.level === 'error') out.info(`${out.errColor.red('×')} ${line.text}`)
    else out.info(line.text)
  }
}

export async function runInjection(o: RunOptions, out: Output): Promise<void> {
  const flags = o.mode === 'inject' ? flagAnnotations(o.proxyFlags) : {}
  const config = await resolveConfig(o)
  const sources = await readSources(o.inputs, {stdin: o.stdin, ca: o.ca, notice: (line) => out.info(line)})
  const result = transformSources(sources, {
    mode: o.mode,
    output: o.output,
    config,
    createdBy: o.createdBy,
    native: o.native,
    annotateOnly: o.annotateOnly,
    ingress: o.ingress,
    flagAnnotations: flags,
    defaultNamespace: o.namespace,
  })
  const lines = renderReport(result.reports, {verbose: o.verbose, mode: o.mode})
  if (result.refused.length > 0) {
    // Refusals are reported whatever --quiet says: they are the error.
    printReport(out, o.quiet ? lines.filter((l) => l.level === 'error') : lines)
    const n = result.refused.length
    throw new MeshError(`${n} resource${n === 1 ? '' : 's'} cannot be ${o.mode}ed; nothing was written`, {
      code: 'MESH_INJECT_REFUSED',
      suggestions: ['Fix the resources named above, or add the annotation mesh.dev/inject: disabled to their pod templates to pass them through unchanged.'],
    })
  }
  out.stdout.write(result.output)
  if (!o.quiet) printReport(out, lines)
  // Said whatever --quiet says: the user's text was not kept as written there.
  for (const r of result.rewritten) {
    out.warn(r.commentsKept
      ? `${r.source}, document ${r.index}: rewritten in full (its comments kept, their spacing not)`
      : `${r.source}, document ${r.index}: rewritten in full; some of its comments could not be kept`)
  }
}
