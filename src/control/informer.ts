// Informers from @kubernetes/client-node (list, then watch from the list's resourceVersion;
// a 410 Gone makes it relist) with what the library leaves out: restarts with exponential
// backoff after errors (client-node stops on any non-410 error), and a promise for the first
// successful list.
import type * as k8s from '@kubernetes/client-node'
import type {Logger} from './logger.js'

export interface Informer<T extends k8s.KubernetesObject> {
  get(name: string, namespace?: string): T | undefined
  list(namespace?: string): ReadonlyArray<T>
  /** Resolves after the first successful list. */
  synced: Promise<void>
  stop(): Promise<void>
}

export interface InformerOptions<T extends k8s.KubernetesObject> {
  lib: typeof k8s
  kc: k8s.KubeConfig
  /** Watch path, e.g. `/api/v1/pods`. */
  path: string
  list: () => Promise<k8s.KubernetesListObject<T>>
  fieldSelector?: string
  labelSelector?: string
  /** Any add, update or delete. */
  onEvent: (obj: T, verb: 'add' | 'update' | 'delete') => void
  log: Logger
  name: string
  backoff?: {minMs: number; maxMs: number}
}

export function startInformer<T extends k8s.KubernetesObject>(o: InformerOptions<T>): Informer<T> {
  const lw = new o.lib.ListWatch<T>(o.path, new o.lib.Watch(o.kc), o.list, false, o.labelSelector, o.fieldSelector)
  let stopped = false
  let failures = 0
  let timer: NodeJS.Timeout | undefined
  let markSynced!: () => void
  const synced = new Promise<void>((r) => (markSynced = r))
  lw.on('add', (obj) => {
    failures = 0
    o.onEvent(obj, 'add')
  })
  lw.on('update', (obj) => {
    failures = 0
    o.onEvent(obj, 'update')
  })
  lw.on('delete', (obj) => o.onEvent(obj, 'delete'))
  const restart = (err: unknown): void => {
    if (stopped) return
    failures++
    const {minMs, maxMs} = o.backoff ?? {minMs: 500, maxMs: 30_000}
    const wait = Math.min(maxMs, minMs * 2 ** Math.min(failures - 1, 16))
    o.log.warn('watch failed; restarting', {informer: o.name, inMs: wait, error: (err as Error)?.message?.split('\n')[0] ?? String(err)})
    if (timer) clearTimeout(timer)
    timer = setTimeout(() => void run(), wait)
    timer.unref()
  }
  lw.on('error', restart)
  const run = async (): Promise<void> => {
    if (stopped) return
    try {
      await lw.start()
    } catch (err) {
      restart(err)
      return
    }
    if (lw.latestResourceVersion()) markSynced()
  }
  void run()
  return {
    get: (name, namespace) => lw.get(name, namespace),
    list: (namespace) => lw.list(namespace),
    synced,
    stop: async () => {
      stopped = true
      if (timer) clearTimeout(timer)
      await lw.stop()
    },
  }
}

/** Whether `synced` resolved within `timeoutMs` (the timer never outlives the answer). */
export async function syncedWithin(synced: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const ok = await Promise.race([synced.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)))])
  clearTimeout(timer)
  return ok
}

/** Calls `fn` every `everyMs` after the previous call settles (unref'd: it never keeps the process up), until stopped. */
export function repeatAfter(fn: () => Promise<unknown>, everyMs: number): {stop(): void} {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const next = (): void => {
    timer = setTimeout(() => void fn().finally(() => !stopped && next()), everyMs)
    timer.unref()
  }
  next()
  return {
    stop() {
      stopped = true
      clearTimeout(timer)
    },
  }
}
