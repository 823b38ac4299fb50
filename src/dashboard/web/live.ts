// The page's connections to its server: the live snapshot stream (reconnects with backoff) and
// JSON reads. Same origin only (the page's Content-Security-Policy allows nothing else).
import {useEffect, useState} from 'preact/hooks'
import type {LiveMessage, Snapshot} from '../types.js'

export type LinkState = 'connecting' | 'live' | 'lost'

export function wsUrl(path: string): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`
}

export function useLive(): {snapshot: Snapshot | undefined; link: LinkState} {
  const [snapshot, setSnapshot] = useState<Snapshot | undefined>(undefined)
  const [link, setLink] = useState<LinkState>('connecting')
  useEffect(() => {
    let ws: WebSocket | undefined
    let retry: ReturnType<typeof setTimeout> | undefined
    let delay = 500
    let stopped = false
    const connect = (): void => {
      ws = new WebSocket(wsUrl('/api/live'))
      ws.onopen = () => ((delay = 500), setLink('live'))
      ws.onmessage = (e: MessageEvent<string>) => {
        const m = JSON.parse(e.data) as LiveMessage
        if (m.type === 'snapshot') setSnapshot(m.snapshot)
      }
      ws.onclose = () => {
        if (stopped) return
        setLink('lost')
        retry = setTimeout(connect, delay)
        delay = Math.min(delay * 2, 10_000)
      }
    }
    connect()
    return () => {
      stopped = true
      clearTimeout(retry)
      ws?.close()
    }
  }, [])
  return {snapshot, link}
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, {credentials: 'same-origin'})
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`)
  return (await res.json()) as T
}
