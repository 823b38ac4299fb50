// The pod's interception rules, Linkerd style, as one iptables-restore transaction in the nat
// table (all or nothing):
//
//   PREROUTING -> MESH_INBOUND   skip the admin/tap and ignored ports and subnets, REDIRECT the
//                                rest of TCP to the inbound port (4143)
//   OUTPUT     -> MESH_OUTPUT    the proxy's own connections to the pod's own IP (on lo, not
//                                127.0.0.1) go through MESH_INBOUND; everything else from the
//                                proxy's uid, and all other loopback traffic, is left alone;
//                                ignored ports are skipped; the rest of TCP goes to 4140.
//
// Idempotent: declaring a chain in `iptables-restore --noflush` flushes it, and the two jumps
// are only added when `iptables-save` does not already show them.
import {spawn} from 'node:child_process'
import {MeshError} from '../../lib/errors.js'
import type {FirewallConfig} from './config.js'

export const INBOUND_CHAIN = 'MESH_INBOUND'
export const OUTPUT_CHAIN = 'MESH_OUTPUT'
/** iptables multiport takes at most 15 ports per rule; a range counts as two. */
const MULTIPORT_LIMIT = 15

const comment = (what: string) => `-m comment --comment "mesh-proxy-init/${what}"`

/** Splits port entries into groups that fit one multiport match. */
export function multiportGroups(ports: readonly string[]): string[][] {
  const groups: string[][] = []
  let group: string[] = []
  let weight = 0
  for (const p of ports) {
    const w = p.includes(':') ? 2 : 1
    if (weight + w > MULTIPORT_LIMIT) {
      groups.push(group)
      group = []
      weight = 0
    }
    group.push(p)
    weight += w
  }
  if (group.length > 0) groups.push(group)
  return groups
}

export interface RestoreOptions {
  /** `iptables-save -t nat` output of the target: jumps already there are not added again. */
  existingNat?: string
}

/** The rules alone, one `-A ...` line each, in order. */
export function buildRules(config: FirewallConfig, options: RestoreOptions = {}): string[] {
  const rules: string[] = []
  for (const g of multiportGroups(config.inboundPortsToIgnore)) {
    rules.push(`-A ${INBOUND_CHAIN} -p tcp -m multiport --dports ${g.join(',')} ${comment('ignore-inbound-ports')} -j RETURN`)
  }
  for (const s of config.subnetsToIgnore) rules.push(`-A ${INBOUND_CHAIN} -s ${s} ${comment('ignore-subnet')} -j RETURN`)
  rules.push(`-A ${INBOUND_CHAIN} -p tcp ${comment('redirect-all-incoming-to-proxy-port')} -j REDIRECT --to-ports ${config.inboundPort}`)

  const uid = `-m owner --uid-owner ${config.proxyUid}`
  rules.push(`-A ${OUTPUT_CHAIN} -o lo ! -d 127.0.0.1/32 ${uid} ${comment('redirect-non-loopback-local-traffic')} -j ${INBOUND_CHAIN}`)
  rules.push(`-A ${OUTPUT_CHAIN} ${uid} ${comment('ignore-proxy-user-id')} -j RETURN`)
  rules.push(`-A ${OUTPUT_CHAIN} -o lo ${comment('ignore-loopback')} -j RETURN`)
  for (const g of multiportGroups(config.outboundPortsToIgnore)) {
    rules.push(`-A ${OUTPUT_CHAIN} -p tcp -m multiport --dports ${g.join(',')} ${comment('ignore-outbound-ports')} -j RETURN`)
  }
  rules.push(`-A ${OUTPUT_CHAIN} -p tcp ${comment('redirect-all-outgoing-to-proxy-port')} -j REDIRECT --to-ports ${config.outboundPort}`)

  const existing = options.existingNat ?? ''
  if (!new RegExp(`^-A PREROUTING\\b.*-j ${INBOUND_CHAIN}\\b`, 'm').test(existing)) {
    rules.push(`-A PREROUTING ${comment('install-prerouting')} -j ${INBOUND_CHAIN}`)
  }
  if (!new RegExp(`^-A OUTPUT\\b.*-j ${OUTPUT_CHAIN}\\b`, 'm').test(existing)) {
    rules.push(`-A OUTPUT ${comment('install-output')} -j ${OUTPUT_CHAIN}`)
  }
  return rules
}

/** The whole `iptables-restore --noflush` input. */
export function buildRestoreInput(config: FirewallConfig, options: RestoreOptions = {}): string {
  return ['*nat', `:${INBOUND_CHAIN} - [0:0]`, `:${OUTPUT_CHAIN} - [0:0]`, ...buildRules(config, options), 'COMMIT', ''].join('\n')
}

export interface ApplyOptions {
  /** Runs the iptables binaries under this prefix, e.g. ['ip', 'netns', 'exec', 'pod-1']. */
  commandPrefix?: string[]
  timeoutMs?: number
}

export interface ApplyResult {
  /** What was fed to iptables-restore. */
  input: string
  /** `iptables-save -t nat` afterwards. */
  after: string
}

function binaries(mode: FirewallConfig['mode']) {
  return {save: `iptables-${mode}-save`, restore: `iptables-${mode}-restore`}
}

export async function applyFirewall(config: FirewallConfig, options: ApplyOptions = {}): Promise<ApplyResult> {
  const {save, restore} = binaries(config.mode)
  const prefix = options.commandPrefix ?? []
  const existingNat = await run([...prefix, save, '-t', 'nat'], '', options.timeoutMs, config.mode)
  const input = buildRestoreInput(config, {existingNat})
  await run([...prefix, restore, '--noflush'], input, options.timeoutMs, config.mode)
  const after = await run([...prefix, save, '-t', 'nat'], '', options.timeoutMs, config.mode)
  return {input, after}
}

function run(argv: string[], stdin: string, timeoutMs = 30_000, mode: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs})
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2048)))
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT'
          ? new MeshError(`cannot run ${argv.join(' ').slice(0, 200)}: command not found`, {
              code: 'MESH_PROXY_INIT_NO_IPTABLES',
              suggestions: ['Install iptables (Debian: apt-get install -y iptables), or pass --iptables-mode legacy|nft to match what is installed.'],
              cause: e,
            })
          : e,
      )
    })
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(out)
      const why = err.trim() || (signal ? `killed by ${signal}` : `exit code ${code}`)
      reject(
        new MeshError(`${argv.join(' ').slice(0, 200)} failed: ${why}`, {
          code: 'MESH_PROXY_INIT_IPTABLES',
          suggestions: [
            'Run as root with the NET_ADMIN and NET_RAW capabilities (the mesh-init container has them).',
            `Check the kernel supports the ${mode} backend; try --iptables-mode ${mode === 'nft' ? 'legacy' : 'nft'}.`,
            'See the rules with --dry-run.',
          ],
        }),
      )
    })
    child.stdin.on('error', () => {})
    child.stdin.end(stdin)
  })
}
