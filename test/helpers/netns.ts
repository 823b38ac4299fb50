// Two network namespaces joined by a veth pair: the "pods" of the suites that play a cluster's
// network on one machine (root, iproute2): proxy-init's rules (test/proxy-init), the sidecar
// behind them, the arm64 mesh (test/arm64). Each namespace gets lo up and its end of the veth at
// its address, both in one /24.
import {execFileSync, spawnSync} from 'node:child_process'

/** `argv` run inside the network namespace `ns`. */
export const inNs = (ns: string, argv: string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv]

/** One side of the pair. */
export interface NsEnd {
  /** The namespace, created here. */
  ns: string
  /** Its end of the veth (an interface name: at most 15 characters). */
  dev: string
  /** Its address, in the same /24 as the other end's. */
  ip: string
}

function run(argv: string[]): void {
  execFileSync(argv[0]!, argv.slice(1), {encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe']})
}

/** Creates `a.ns` and `b.ns` joined by a veth (`a.dev` <-> `b.dev`), each end up at its address. */
export function joinedNamespaces(a: NsEnd, b: NsEnd): void {
  run(['ip', 'netns', 'add', a.ns])
  run(['ip', 'netns', 'add', b.ns])
  run(['ip', 'link', 'add', a.dev, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns])
  for (const end of [a, b]) {
    run(inNs(end.ns, ['ip', 'link', 'set', 'lo', 'up']))
    run(inNs(end.ns, ['ip', 'addr', 'add', `${end.ip}/24`, 'dev', end.dev]))
    run(inNs(end.ns, ['ip', 'link', 'set', end.dev, 'up']))
  }
}

/** Deletes the namespaces (their veth goes with them); one that is not there is no error. */
export function deleteNamespaces(...names: string[]): void {
  for (const ns of names) spawnSync('ip', ['netns', 'delete', ns])
}
