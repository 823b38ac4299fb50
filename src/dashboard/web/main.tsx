// The dashboard's page: a header with the views and the theme, and the view of the address's
// hash (#/, #/graph, #/workload/<ns>/<kind>/<name>, #/check). Data comes live from the server.
import {render} from 'preact'
import {useEffect, useState} from 'preact/hooks'
import {CheckView} from './check.js'
import {ErrorBox} from './common.js'
import {ago} from './format.js'
import {GraphView} from './graph.js'
import {useLive} from './live.js'
import {WorkloadView} from './workload.js'
import {WorkloadsView} from './workloads.js'

type Theme = 'light' | 'dark'
const THEME_KEY = 'mesh-dashboard-theme'

function applyTheme(theme: Theme): Theme {
  document.documentElement.dataset.theme = theme
  return theme
}

function initialTheme(): Theme {
  const saved = localStorage.getItem(THEME_KEY)
  if (saved === 'light' || saved === 'dark') return saved
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'
}

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/')
  useEffect(() => {
    const on = (): void => {
      setHash(location.hash || '#/')
      // Move focus to the new view, so keyboard and screen reader users start there.
      requestAnimationFrame(() => document.getElementById('main')?.focus())
    }
    addEventListener('hashchange', on)
    // A change between the first render and now (the effect runs after paint) had no listener.
    setHash(location.hash || '#/')
    return () => removeEventListener('hashchange', on)
  }, [])
  return hash
}

const VIEWS = [
  ['#/', 'Workloads'],
  ['#/graph', 'Graph'],
  ['#/check', 'Checks'],
] as const

function App() {
  const [theme, setTheme] = useState<Theme>(() => applyTheme(initialTheme()))
  const hash = useHash()
  const {snapshot, link} = useLive()
  const [, tick] = useState(0)
  useEffect(() => {
    const t = setInterval(() => tick((n) => n + 1), 1000)
    return () => clearInterval(t)
  }, [])
  const parts = hash.slice(2).split('/').map(decodeURIComponent)
  const view = parts[0] ?? ''
  const current = view === 'workload' ? '' : `#/${view}`
  let body
  if (view === 'check') body = <CheckView />
  else if (!snapshot) body = <p class="loading" role="status">Reading the mesh…</p>
  else if (snapshot.error) body = <ErrorBox error={snapshot.error} what={`The control plane refused or did not answer (${snapshot.source})`} />
  else if (view === 'graph') body = <GraphView snapshot={snapshot} />
  else if (view === 'workload' && parts.length >= 4) body = <WorkloadView snapshot={snapshot} namespace={parts[1]!} resource={`${parts[2]}/${parts[3]}`} />
  else body = <WorkloadsView snapshot={snapshot} />
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>Skip to content</a>
      <header>
        <a class="brand" href="#/">mesh</a>
        <nav aria-label="views">
          <ul>
            {VIEWS.map(([href, label]) => (
              <li key={href}><a href={href} aria-current={current === href ? 'page' : undefined}>{label}</a></li>
            ))}
          </ul>
        </nav>
        <span class={`link ${link}`} role="status" data-testid="link">
          {link === 'live' ? 'live' : link === 'lost' ? 'connection lost, retrying' : 'connecting'}
          {snapshot && !snapshot.error ? ` · read ${ago(snapshot.time)}` : ''}
        </span>
        <button type="button" class="theme" aria-pressed={theme === 'dark'} onClick={() => {
          const next = theme === 'dark' ? 'light' : 'dark'
          localStorage.setItem(THEME_KEY, next)
          setTheme(applyTheme(next))
        }}>Dark theme</button>
      </header>
      <main id="main" tabIndex={-1}>
        {snapshot && <p class="source muted">{snapshot.source}</p>}
        {snapshot && snapshot.podErrors.length > 0 && <p class="note">Metrics unavailable for {snapshot.podErrors.map((e) => `${e.pod} (${e.error})`).join(', ')}</p>}
        {body}
      </main>
    </>
  )
}

const root = document.getElementById('app')!
// The page's "Loading" line goes; preact renders into the emptied container.
root.textContent = ''
render(<App />, root)
