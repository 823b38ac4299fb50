// The local (demo) resolver: pods come from a list the caller keeps up to date (the demo's
// file-backed registry). Every proxy runs on 127.0.0.1 with its own tap and admin ports, so
// pods are told apart by name and port, never by IP.
import type {ResourceRef} from './resource.js'
import {groupPods, type GroupablePod} from './group.js'
import type {PodInfo, ResolvedGroup, ResolveScope, TargetResolver} from './types.js'

export type PodSource = () => Promise<readonly GroupablePod[]> | readonly GroupablePod[]

export class LocalResolver implements TargetResolver {
  constructor(private readonly source: PodSource) {}

  async resolve(ref: ResourceRef, scope: ResolveScope): Promise<ResolvedGroup[]> {
    return groupPods(await this.source(), ref, scope)
  }

  /** Local pods share 127.0.0.1: match by ip:port of the inbound or admin address instead. */
  async podByAddress(address: string): Promise<PodInfo | undefined> {
    const pods = await this.source()
    return pods.find((p) => p.adminAddress === address || p.tapAddress === address || (p as LocalPod).inboundAddress === address)
  }
}

export interface LocalPod extends GroupablePod {
  /** 127.0.0.1:port where the pod's proxy accepts inbound traffic (names the destination of events). */
  inboundAddress?: string
}
