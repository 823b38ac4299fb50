import type {ShownError, Workload} from '../types.js'

export function ErrorBox({error, what}: {error: ShownError; what: string}) {
  return (
    <div class="error" role="alert" data-testid="error">
      <strong>{what}:</strong> {error.message}
      {error.suggestions.length > 0 && (
        <ul>
          {error.suggestions.map((s) => (
            <li key={s}>Try this: {s}</li>
          ))}
        </ul>
      )}
    </div>
  )
}

export function MeshedBadge({w}: {w: Pick<Workload, 'meshedPods' | 'totalPods'>}) {
  const all = w.totalPods > 0 && w.meshedPods === w.totalPods
  const none = w.meshedPods === 0
  return (
    <span class={`badge ${all ? 'ok' : none ? 'bad' : 'warn'}`} title={`${w.meshedPods} of ${w.totalPods} pods run a mesh proxy`}>
      {all ? 'meshed' : none ? 'not meshed' : 'partly meshed'} {w.meshedPods}/{w.totalPods}
    </span>
  )
}

export const workloadHref = (ns: string, kindName: string): string => `#/workload/${encodeURIComponent(ns)}/${kindName.split('/').map(encodeURIComponent).join('/')}`
