// The results of `mesh check` (the demo's proxies, or the cluster's control and data plane).
import {useEffect, useState} from 'preact/hooks'
import type {CheckAnswer} from '../types.js'
import {ErrorBox} from './common.js'
import {ago} from './format.js'
import {getJson} from './live.js'

const MARK = {success: ['√', 'passed'], warning: ['‼', 'warning'], error: ['×', 'failed']} as const

export function CheckView() {
  const [answer, setAnswer] = useState<CheckAnswer | undefined>(undefined)
  const [failure, setFailure] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const run = (): void => {
    setBusy(true)
    getJson<CheckAnswer>('/api/check').then(
      (a) => (setAnswer(a), setFailure(undefined), setBusy(false)),
      (err: Error) => (setFailure(err.message), setBusy(false)),
    )
  }
  useEffect(run, [])
  return (
    <>
      <h1>Checks</h1>
      <p class="note">
        What <code>mesh check</code> says. <button type="button" onClick={run} disabled={busy}>{busy ? 'Checking…' : 'Check again'}</button>
        {answer && <span class="muted"> checked {ago(answer.time)}</span>}
      </p>
      {failure && <ErrorBox error={{message: failure, suggestions: []}} what="The dashboard did not answer" />}
      {answer?.error && <ErrorBox error={answer.error} what="The checks could not run" />}
      {answer?.report && (
        <div data-testid="checks" data-success={String(answer.report.success)}>
          <p class={answer.report.success ? 'ok' : 'bad'} role="status">{answer.report.success ? 'Status check results are √' : 'Some checks failed'}</p>
          {answer.report.categories.map((c) => (
            <section key={c.categoryName} aria-label={c.categoryName}>
              <h2>{c.categoryName}</h2>
              <ul class="checks">
                {c.checks.map((k) => (
                  <li key={k.id} data-check={k.id} data-result={k.result} class={k.result}>
                    <span class="mark" aria-label={MARK[k.result][1]}>{MARK[k.result][0]}</span> {k.description}
                    {k.error && <div class="detail">{k.error}{k.hint && <> · see {k.hint}</>}</div>}
                  </li>
                ))}
              </ul>
            </section>
          ))}
        </div>
      )}
    </>
  )
}
