// The pods' network: one bridge (meshbr0, host side 10.244.0.1/16), one network namespace per
// pod joined to it by a veth pair, and nothing else. SAFETY: no default route anywhere, the
// service CIDR 10.96.0.0/16 is a blackhole route in every namespace and on the host, no
// forwarding or masquerading is switched on: a packet can only reach 10.244.0.0/16 addresses
// this file created, or loopback.
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'

export const BRIDGE = 'meshbr0'
export const HOST_IP = '10.244.0.1'
export const POD_CIDR_BITS = 16
export const SERVICE_CIDR = '10.96.0.0/16'
export const NETNS_PREFIX = 'mesh-e2e-'
const LOCK = '/run/mesh-e2e.pid'

export function sh(argv: string[], opts: {input?: string; allowFailure?: boolean} = {}): string {
  const r = spawnSync(argv[0]!, argv.slice(1), {encoding: 'utf8', input: opts.input, timeout: 30_000})
  if (r.status !== 0 && !opts.allowFailure) {
    throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr || r.error?.message || '').trim()}`)
  }
  return r.stdout ?? ''
}

const inNs = (ns: string, argv: string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv]

export interface HostNetwork {
  /** Whether this run added the host's blackhole route (and so removes it). */
  addedBlackhole: boolean
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Our namespaces, bridge and routes left by a run that died without cleaning up (its pid is gone). */
export function sweepStale(): void {
  if (existsSync(LOCK)) {
    const pid = Number(readFileSync(LOCK, 'utf8').trim())
    if (pid && pid !== process.pid && pidAlive(pid)) {
      throw new Error(`another e2e run (pid ${pid}) owns ${BRIDGE} (${LOCK}); wait for it or stop it`)
    }
  }
  for (const ns of listOurNetns()) destroyNetns(ns)
  deleteStaleVeths()
  sh(['ip', 'link', 'del', BRIDGE], {allowFailure: true})
  rmSync(LOCK, {force: true})
}

/** Host ends of our veths (`mve<n>`) whose namespace is gone but not yet freed by the kernel. */
function deleteStaleVeths(): void {
  for (const m of sh(['ip', '-o', 'link', 'show']).matchAll(/^\d+: (mve\d+)@/gm)) sh(['ip', 'link', 'del', m[1]!], {allowFailure: true})
}

export function listOurNetns(): string[] {
  return sh(['ip', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(NETNS_PREFIX))
}

export function setupHost(): HostNetwork {
  if (process.getuid?.() !== 0) throw new Error('the e2e pod runner must run as root (network namespaces, veths, iptables)')
  for (const bin of ['ip', 'iptables', 'setpriv', 'mount']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) throw new Error(`${bin} is required (apt-get install -y iproute2 iptables util-linux)`)
  }
  sweepStale()
  writeFileSync(LOCK, String(process.pid))
  sh(['ip', 'link', 'add', BRIDGE, 'type', 'bridge'])
  sh(['ip', 'addr', 'add', `${HOST_IP}/${POD_CIDR_BITS}`, 'dev', BRIDGE])
  sh(['ip', 'link', 'set', BRIDGE, 'up'])
  const hasBlackhole = sh(['ip', 'route', 'show', SERVICE_CIDR]).includes('blackhole')
  if (!hasBlackhole) sh(['ip', 'route', 'add', 'blackhole', SERVICE_CIDR])
  return {addedBlackhole: !hasBlackhole}
}

export function teardownHost(h: HostNetwork): void {
  for (const ns of listOurNetns()) destroyNetns(ns)
  deleteStaleVeths()
  sh(['ip', 'link', 'del', BRIDGE], {allowFailure: true})
  if (h.addedBlackhole) sh(['ip', 'route', 'del', 'blackhole', SERVICE_CIDR], {allowFailure: true})
  sh(['rmdir', '/etc/netns'], {allowFailure: true})
  rmSync(LOCK, {force: true})
}

/**
 * Creates the pod's namespace: lo, eth0 (veth on the bridge) with ip/16, the service CIDR sink,
 * hosts. The sink: a `blackhole` route makes connect() fail (EINVAL) at the route lookup, before
 * the nat OUTPUT hook could redirect the connection, so a pod whose traffic is intercepted
 * (`intercepted`) routes the service CIDR to a veth sink instead, where every packet dies (no ARP answer, no forwarding):
 * redirected connections never use the route, and anything not redirected goes nowhere.
 */
export function createNetns(ns: string, hostVeth: string, ip: string, hostname: string, intercepted = false): void {
  destroyNetns(ns)
  // A deleted namespace lives on, unnamed, while the kernel still holds a reference to it (an
  // orphaned socket still closing, say), and so does the host end of its veth: delete a stale
  // host end of that name (always ours: the mve prefix), which frees the pair.
  if (sh(['ip', '-o', 'link', 'show', hostVeth], {allowFailure: true}).trim()) sh(['ip', 'link', 'del', hostVeth], {allowFailure: true})
  sh(['ip', 'netns', 'add', ns])
  sh(['ip', 'link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
  sh(['ip', 'link', 'set', hostVeth, 'master', BRIDGE, 'up'])
  sh(inNs(ns, ['ip', 'link', 'set', 'lo', 'up']))
  sh(inNs(ns, ['ip', 'addr', 'add', `${ip}/${POD_CIDR_BITS}`, 'dev', 'eth0']))
  sh(inNs(ns, ['ip', 'link', 'set', 'eth0', 'up']))
  if (intercepted) {
    // No dummy driver here: a veth pair with both ends in the namespace does the same (nothing
    // answers ARP for a service address, and the namespace does not forward).
    if (sh(inNs(ns, ['sysctl', '-n', 'net.ipv4.ip_forward'])).trim() !== '0') throw new Error(`netns ${ns} forwards IPv4: refusing to add a service sink`)
    sh(inNs(ns, ['ip', 'link', 'add', 'svcsink0', 'type', 'veth', 'peer', 'name', 'svcsink1']))
    sh(inNs(ns, ['ip', 'link', 'set', 'svcsink0', 'up']))
    sh(inNs(ns, ['ip', 'link', 'set', 'svcsink1', 'up']))
    sh(inNs(ns, ['ip', 'route', 'add', SERVICE_CIDR, 'dev', 'svcsink0']))
  } else {
    sh(inNs(ns, ['ip', 'route', 'add', 'blackhole', SERVICE_CIDR]))
  }
  const etc = `/etc/netns/${ns}`
  mkdirSync(etc, {recursive: true})
  // `ip netns exec` bind-mounts these over /etc/hosts and /etc/resolv.conf: names resolve from
  // the hosts file only (no nameserver: nothing to ask, nowhere to send a query).
  writeFileSync(`${etc}/resolv.conf`, '# mesh e2e: no DNS; names come from /etc/hosts\noptions ndots:1\n')
  writeHosts(ns, hostname, ip, [])
}

/** Rewrites the namespace's hosts file in place (same inode: running processes see it). */
export function writeHosts(ns: string, hostname: string, ip: string, services: Array<{ip: string; names: string[]}>): void {
  const lines = ['127.0.0.1 localhost', `${ip} ${hostname}`, ...services.map((s) => `${s.ip} ${s.names.join(' ')}`)]
  const file = `/etc/netns/${ns}/hosts`
  if (existsSync(`/etc/netns/${ns}`)) writeFileSync(file, `${lines.join('\n')}\n`)
}

/** Kills every process in the namespace, deletes it (its veth goes with it) and its /etc/netns dir. */
export function destroyNetns(ns: string): void {
  if (sh(['ip', 'netns', 'list']).split('\n').some((l) => l.split(' ')[0] === ns)) {
    for (let i = 0; i < 20; i++) {
      const pids = sh(['ip', 'netns', 'pids', ns], {allowFailure: true}).split('\n').map(Number).filter((p) => p > 0)
      if (pids.length === 0) break
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // gone
        }
      }
      execFileSync('sleep', ['0.05'])
    }
    sh(['ip', 'netns', 'del', ns], {allowFailure: true})
  }
  rmSync(`/etc/netns/${ns}`, {recursive: true, force: true})
}

/** The namespace's nat table, for failure reports. */
export function natRules(ns: string): string {
  return sh(inNs(ns, ['iptables', '-t', 'nat', '-S']), {allowFailure: true})
}
