// `mesh identity rotate-anchor --new ca2.crt [--apply]`: a trust anchor rotation in stages, each
// gated on what the live data plane reports, so no proxy ever meets a certificate it cannot
// verify:
//
//   1 add-anchor         the bundle becomes old + new (trust-roots ConfigMap: streamed to running
//                        proxies; mesh-config: given to new pods; the webhook's caBundle)
//   2 proxies-trust-both every live proxy trusts every anchor of the bundle
//   3 new-issuer         the issuer Secret holds an issuer signed by the new anchor
//   4 leaves-renewed     every live proxy presents a certificate that chains to the new anchor
//   5 drop-old-anchor    the bundle becomes the new anchor alone; refused while any live
//                        certificate (the issuer's, a proxy's) still chains to an old one
//
// The state is read from the cluster on every run (nothing is stored), so a rerun continues
// where the last one stopped. Without --apply nothing is written: the plan shows each stage
// as done, ready (what --apply would do) or blocked (why, and what to do).
import type {X509Certificate} from 'node:crypto'
import type {V1Pod} from '@kubernetes/client-node'
import {clusterError, type Kube} from '../k8s/client.js'
import {InputError, MeshError, UsageError} from '../lib/errors.js'
import type {Output} from '../lib/output.js'
import {ControlPlane} from '../protocol/control-plane.js'
import {ISSUER_SECRET_KEYS, TLS_SECRET_KEYS, TRUST_ROOTS_CONFIGMAP_KEY, type IssuerScheme} from '../protocol/identity.js'
import {parseCertificates} from '../tls/pem.js'
import {verifyChain} from '../tls/verify.js'
import {readProxyIdentities, sha256Of, type ProxyIdentityState} from './identity-report.js'
import {proxyContainer, proxyPod} from './pods.js'

export type StageId = 'add-anchor' | 'proxies-trust-both' | 'new-issuer' | 'leaves-renewed' | 'drop-old-anchor'

export interface Stage {
  id: StageId
  title: string
  state: 'done' | 'ready' | 'blocked' | 'waiting'
  /** What was found (done), what --apply does (ready), or why not and what to do (blocked). */
  detail: string
}

/** What the cluster holds now. */
export interface Observed {
  bundle: X509Certificate[]
  scheme: IssuerScheme
  /** The issuer Secret's certificate, then any intermediates. */
  issuerChain: X509Certificate[]
  /** The anchors mesh-config gives newly injected proxies. */
  injectedAnchors: X509Certificate[]
  /** Each webhook's caBundle. */
  webhookCaBundles: X509Certificate[][]
}

export interface PlanInput {
  observed: Observed
  newAnchor: X509Certificate
  /** Every live meshed proxy (running pods). */
  proxies: ProxyIdentityState[]
  /** An issuer signed by the new anchor, given (or made) for stage 3. */
  nextIssuer?: {chain: X509Certificate[]}
  now?: Date
}

const has = (list: X509Certificate[], c: X509Certificate): boolean => list.some((x) => x.raw.equals(c.raw))
const name = (c: X509Certificate): string => `${c.subject.replace(/\n/g, ', ')} (${sha256Of(c).slice(0, 12)})`
const podName = (p: ProxyIdentityState): string => `${p.namespace}/${p.name}`
const some = (items: string[]): string => items.slice(0, 5).join('; ') + (items.length > 5 ? `; and ${items.length - 5} more` : '')

/** The anchors the rotation drops: everything in the bundle but the new one. */
export function oldAnchors(observed: Observed, newAnchor: X509Certificate): X509Certificate[] {
  return observed.bundle.filter((a) => !a.raw.equals(newAnchor.raw))
}

function chainsTo(chain: X509Certificate[] | undefined, anchor: X509Certificate, now: Date): boolean {
  const [leaf, ...rest] = chain ?? []
  return leaf !== undefined && verifyChain({leaf, intermediates: rest, anchors: [anchor], at: now}) === undefined
}

/** Each stage's state, in order; pure, so the gates are tested with made-up proxies. */
export function planRotation(input: PlanInput): Stage[] {
  const {observed, newAnchor: n} = input
  const now = input.now ?? new Date()
  const old = oldAnchors(observed, n)
  const live = input.proxies.filter((p) => p.meshed && p.running)
  const stages: Stage[] = []
  const after = (prev: Stage | undefined): boolean => prev === undefined || prev.state === 'done'
  const dropped = old.length === 0 && has(observed.bundle, n)

  // 1. add the new anchor everywhere anchors are handed out.
  const missing = [
    !has(observed.bundle, n) && `ConfigMap ${ControlPlane.trustRootsConfigMap}`,
    !has(observed.injectedAnchors, n) && `ConfigMap ${ControlPlane.configMap} (trustAnchorsPEM)`,
    observed.webhookCaBundles.some((b) => !has(b, n)) && `the caBundle of ${ControlPlane.webhookConfiguration}`,
  ].filter((x): x is string => typeof x === 'string')
  stages.push(
    missing.length === 0
      ? {id: 'add-anchor', title: 'add the new anchor to the bundle', state: 'done', detail: `the bundle holds ${observed.bundle.map(name).join(' + ')}`}
      : {id: 'add-anchor', title: 'add the new anchor to the bundle', state: 'ready', detail: `write ${[...old, n].map(name).join(' + ')} to ${missing.join(', ')}`},
  )

  // 2. every live proxy trusts every anchor of the bundle.
  {
    const prev = stages.at(-1)
    const bundle = [...old, n]
    const lacking = live.filter((p) => bundle.some((a) => !p.trustedSha256.includes(sha256Of(a))))
    const title = 'every proxy trusts both anchors'
    if (dropped) stages.push({id: 'proxies-trust-both', title, state: 'done', detail: 'the old anchors are gone'})
    else if (!after(prev)) stages.push({id: 'proxies-trust-both', title, state: 'waiting', detail: 'after the previous stage'})
    else if (lacking.length === 0) stages.push({id: 'proxies-trust-both', title, state: 'done', detail: `${live.length} live proxies trust ${bundle.length} anchors (${live.filter((p) => p.source === 'proxy').length} said so themselves, ${live.filter((p) => p.source !== 'proxy').length} from their pod spec)`})
    else {
      const fromSpec = lacking.filter((p) => p.source !== 'proxy')
      const why = fromSpec.length > 0
        ? ` ${fromSpec.length} of them do not report the anchors they trust now (${fromSpec[0]!.unreachable ?? 'no /identity'}), so their pod spec counts: they were injected before the new anchor. Restart them (\`kubectl rollout restart deploy -n <ns>\`) to inject the bundle, or run proxies that apply the streamed trust bundle.`
        : ' They have not applied the streamed bundle yet: wait, and check their connection to the destination service.'
      stages.push({id: 'proxies-trust-both', title, state: 'blocked', detail: `${lacking.length} of ${live.length} live proxies do not trust every anchor yet: ${some(lacking.map(podName))}.${why}`})
    }
  }

  // 3. the issuer comes from the new anchor.
  {
    const prev = stages.at(-1)
    const title = 'switch to an issuer signed by the new anchor'
    if (chainsTo(observed.issuerChain, n, now)) stages.push({id: 'new-issuer', title, state: 'done', detail: `the issuer ${name(observed.issuerChain[0]!)} chains to the new anchor`})
    else if (!after(prev)) stages.push({id: 'new-issuer', title, state: 'waiting', detail: 'after every proxy trusts both anchors'})
    else if (observed.scheme === 'kubernetes.io/tls') {
      stages.push({id: 'new-issuer', title, state: 'blocked', detail: `cert-manager owns the issuer: point its Issuer at the new CA (a CA Issuer whose Secret holds ${name(n)} and its key), then renew: \`cmctl renew ${ControlPlane.issuerSecret} -n <control plane ns>\`. This stage is done when Secret ${ControlPlane.issuerSecret} chains to the new anchor.`})
    } else if (input.nextIssuer) {
      stages.push({id: 'new-issuer', title, state: 'ready', detail: `write the issuer ${name(input.nextIssuer.chain[0]!)} to Secret ${ControlPlane.issuerSecret}; the controller reloads it and proxies get certificates from it at their next renewal`})
    } else {
      stages.push({id: 'new-issuer', title, state: 'blocked', detail: 'no issuer signed by the new anchor was given: pass --issuer-certificate-file and --issuer-key-file, or --new-anchor-key to make one here (the anchor\'s key never leaves this machine)'})
    }
  }

  // 4. every live proxy presents a certificate from the new anchor.
  const oldHolders = (anchor: X509Certificate) => live.filter((p) => chainsTo(p.chain, anchor, now))
  {
    const prev = stages.at(-1)
    const title = 'every proxy renewed its certificate'
    if (dropped) stages.push({id: 'leaves-renewed', title, state: 'done', detail: 'the old anchors are gone'})
    else if (!after(prev)) stages.push({id: 'leaves-renewed', title, state: 'waiting', detail: 'after the issuer switch'})
    else {
      const unknown = live.filter((p) => !p.chain)
      const stale = live.filter((p) => p.chain && !chainsTo(p.chain, n, now))
      if (unknown.length === 0 && stale.length === 0) stages.push({id: 'leaves-renewed', title, state: 'done', detail: `${live.length} live proxies present certificates that chain to the new anchor`})
      else {
        const parts: string[] = []
        if (stale.length) parts.push(`${stale.length} still present a certificate from the old issuer (renewed at ~70 % of its life; the last expires at ${new Date(Math.max(...stale.map((p) => new Date(p.chain![0]!.validTo).getTime()))).toISOString()}): ${some(stale.map(podName))}`)
        if (unknown.length) parts.push(`${unknown.length} do not report their certificate (${unknown[0]!.unreachable ?? 'no /identity'}): cannot tell, so this stage cannot pass; restart them after the issuer switch or run proxies that serve /identity: ${some(unknown.map(podName))}`)
        stages.push({id: 'leaves-renewed', title, state: 'blocked', detail: parts.join('. ')})
      }
    }
  }

  // 5. drop the old anchors, none of which a live certificate still chains to.
  {
    const prev = stages.at(-1)
    const title = 'drop the old anchor'
    if (dropped) stages.push({id: 'drop-old-anchor', title, state: 'done', detail: `the bundle is ${name(n)} alone`})
    else if (!after(prev)) stages.push({id: 'drop-old-anchor', title, state: 'waiting', detail: 'after every proxy renewed'})
    else {
      const inUse = old.flatMap((a) => [
        ...(chainsTo(observed.issuerChain, a, now) ? [`the issuer chains to ${name(a)}`] : []),
        ...oldHolders(a).map((p) => `${podName(p)} presents a certificate that chains to ${name(a)}`),
      ])
      if (inUse.length > 0) stages.push({id: 'drop-old-anchor', title, state: 'blocked', detail: `refusing to drop an anchor a live certificate still chains to: ${some(inUse)}`})
      else stages.push({id: 'drop-old-anchor', title, state: 'ready', detail: `write ${name(n)} alone to ConfigMap ${ControlPlane.trustRootsConfigMap}, ConfigMap ${ControlPlane.configMap} (trustAnchorsPEM) and the webhook's caBundle, dropping ${old.map(name).join(', ')}`})
    }
  }
  return stages
}

// ---- the cluster side ---------------------------------------------------------------------

const WEBHOOK_API = 'admissionregistration.k8s.io/v1'
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')

function bundlePem(anchors: X509Certificate[]): string {
  return anchors.map((a) => a.toString()).join('')
}

export async function observe(kube: Kube, cpNs: string): Promise<Observed> {
  const core = kube.core()
  const where = (w: string) => `${w} in namespace ${cpNs}`
  try {
    const roots = await core.readNamespacedConfigMap({name: ControlPlane.trustRootsConfigMap, namespace: cpNs})
    const bundle = parseCertificates(roots.data?.[TRUST_ROOTS_CONFIGMAP_KEY] ?? '', `ConfigMap ${ControlPlane.trustRootsConfigMap} key ${TRUST_ROOTS_CONFIGMAP_KEY}`)
    const secret = await core.readNamespacedSecret({name: ControlPlane.issuerSecret, namespace: cpNs})
    const data = secret.data ?? {}
    const scheme: IssuerScheme = data[ISSUER_SECRET_KEYS.cert] ? 'mesh.dev/tls' : data[TLS_SECRET_KEYS.cert] ? 'kubernetes.io/tls' : 'mesh.dev/tls'
    const certKey = scheme === 'kubernetes.io/tls' ? TLS_SECRET_KEYS.cert : ISSUER_SECRET_KEYS.cert
    const issuerChain = parseCertificates(Buffer.from(data[certKey] ?? '', 'base64').toString('utf8'), `Secret ${ControlPlane.issuerSecret} key ${certKey}`)
    const config = await core.readNamespacedConfigMap({name: ControlPlane.configMap, namespace: cpNs})
    const values = JSON.parse(config.data?.values ?? '{}') as {trustAnchorsPEM?: string}
    const injectedAnchors = values.trustAnchorsPEM ? parseCertificates(values.trustAnchorsPEM, `ConfigMap ${ControlPlane.configMap} trustAnchorsPEM`) : []
    const hooks = (await kube.objects().read({apiVersion: WEBHOOK_API, kind: 'MutatingWebhookConfiguration', metadata: {name: ControlPlane.webhookConfiguration}})) as unknown as {webhooks?: Array<{clientConfig?: {caBundle?: string}}>}
    const webhookCaBundles = (hooks.webhooks ?? []).map((h) => {
      const pem = Buffer.from(h.clientConfig?.caBundle ?? '', 'base64').toString('utf8')
      try {
        return parseCertificates(pem)
      } catch {
        return []
      }
    })
    return {bundle, scheme, issuerChain, injectedAnchors, webhookCaBundles}
  } catch (error) {
    if (error instanceof MeshError) throw error
    if ((error as {code?: number}).code === undefined && error instanceof Error && !/HTTP|fetch|ECONN/.test(error.message)) {
      throw new InputError(`the installed identity cannot be read: ${error.message}`, {code: 'MESH_ROTATE_STATE', suggestions: ['Run `mesh check` to see what is wrong with the installed identity.']})
    }
    throw clusterError(`cannot read the installed identity (${where('the trust-roots and mesh-config ConfigMaps, the issuer Secret, the webhook configuration')})`, error, kube.server)
  }
}

/** Every meshed pod of this control plane, in every namespace (paged), as the gates need them. */
export async function liveProxies(kube: Kube, cpNs: string, trustDomain: string): Promise<ProxyIdentityState[]> {
  const pods: V1Pod[] = []
  let cont: string | undefined
  do {
    const page = await kube.core().listPodForAllNamespaces({labelSelector: `${ControlPlane.controlPlaneNsLabel}=${cpNs}`, limit: 500, _continue: cont})
    pods.push(...page.items.filter((p) => proxyContainer(p) && !p.metadata?.deletionTimestamp && p.metadata?.namespace !== cpNs))
    cont = page.metadata?._continue || undefined
    if (pods.length > 10_000) throw new InputError('more than 10,000 meshed pods: the rotation gates read each proxy; this is more than one run reads', {code: 'MESH_ROTATE_TOO_MANY'})
  } while (cont)
  const mine = pods.map((p) => proxyPod(p, {namespace: p.metadata?.namespace ?? '', controlPlaneNamespace: cpNs, trustDomain}))
  return readProxyIdentities(kube, mine.filter((p) => p.running))
}

async function replaceConfigMapKey(kube: Kube, cpNs: string, cmName: string, edit: (data: Record<string, string>) => void): Promise<void> {
  const core = kube.core()
  const cm = await core.readNamespacedConfigMap({name: cmName, namespace: cpNs})
  cm.data = {...cm.data}
  edit(cm.data)
  await core.replaceNamespacedConfigMap({name: cmName, namespace: cpNs, body: cm})
}

/** The bundle everywhere anchors are handed out: trust-roots (streamed to running proxies), the webhook's caBundle, mesh-config. */
export async function writeBundle(kube: Kube, cpNs: string, anchors: X509Certificate[]): Promise<void> {
  const pem = bundlePem(anchors)
  try {
    await replaceConfigMapKey(kube, cpNs, ControlPlane.trustRootsConfigMap, (d) => (d[TRUST_ROOTS_CONFIGMAP_KEY] = pem))
    const api = kube.objects()
    const hooks = (await api.read({apiVersion: WEBHOOK_API, kind: 'MutatingWebhookConfiguration', metadata: {name: ControlPlane.webhookConfiguration}})) as unknown as {webhooks?: Array<{clientConfig?: {caBundle?: string}}>}
    for (const h of hooks.webhooks ?? []) h.clientConfig = {...h.clientConfig, caBundle: b64(pem)}
    await api.replace(hooks as never)
    await replaceConfigMapKey(kube, cpNs, ControlPlane.configMap, (d) => {
      const values = JSON.parse(d.values ?? '{}') as Record<string, unknown>
      values.trustAnchorsPEM = pem
      d.values = JSON.stringify(values, null, 2) + '\n'
    })
  } catch (error) {
    throw clusterError('cannot write the trust bundle', error, kube.server)
  }
}

export async function writeIssuer(kube: Kube, cpNs: string, issuer: {certPem: string; keyPem: string}, anchor: X509Certificate): Promise<void> {
  const core = kube.core()
  try {
    const secret = await core.readNamespacedSecret({name: ControlPlane.issuerSecret, namespace: cpNs})
    secret.data = {...secret.data, [ISSUER_SECRET_KEYS.cert]: b64(issuer.certPem), [ISSUER_SECRET_KEYS.key]: b64(issuer.keyPem), [ISSUER_SECRET_KEYS.anchor]: b64(anchor.toString())}
    await core.replaceNamespacedSecret({name: ControlPlane.issuerSecret, namespace: cpNs, body: secret})
  } catch (error) {
    throw clusterError(`cannot write Secret ${cpNs}/${ControlPlane.issuerSecret}`, error, kube.server)
  }
}

// ---- the command --------------------------------------------------------------------------

export interface RotateOptions {
  newAnchorFile: string
  issuerCertificateFile?: string
  issuerKeyFile?: string
  /** The new anchor's key: an issuer is made here from it (the key is never sent anywhere). */
  newAnchorKeyFile?: string
  apply: boolean
  /** How long --apply waits at a gate before it stops (0: it stops at once). */
  waitMs: number
  pollMs?: number
  controlPlaneNamespace: string
  trustDomain: string
  output: 'table' | 'json'
}

async function readFileNamed(file: string, flag: string): Promise<string> {
  const {readFile} = await import('node:fs/promises')
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    throw new InputError(`${flag} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {suggestions: [`Check the path given to ${flag}.`]})
  }
}

/** The new anchor (a current CA) and, when given or made, the next issuer (checked against it). */
export async function loadInputs(o: RotateOptions): Promise<{anchor: X509Certificate; issuer?: {certPem: string; keyPem: string; chain: X509Certificate[]}}> {
  const {validateAnchors, validateIdentity} = await import('../install/identity.js')
  const anchorPem = await readFileNamed(o.newAnchorFile, '--new')
  const anchors = await validateAnchors(anchorPem, `--new ${o.newAnchorFile}`)
  if (anchors.length !== 1) throw new InputError(`--new ${o.newAnchorFile} holds ${anchors.length} certificates; pass the one new anchor`, {suggestions: ['Put only the new root certificate in the file.']})
  const anchor = anchors[0]!
  const given = [o.issuerCertificateFile, o.issuerKeyFile].filter((x) => x !== undefined).length
  if (given === 1) throw new UsageError('--issuer-certificate-file and --issuer-key-file go together', {suggestions: ['Pass both, or --new-anchor-key to make the issuer here.']})
  if (given === 2 && o.newAnchorKeyFile) throw new UsageError('--new-anchor-key and the issuer files cannot be used together', {suggestions: ['Pass either the issuer signed by the new anchor, or the new anchor\'s key to make one.']})
  let issuer: {certPem: string; keyPem: string} | undefined
  if (given === 2) {
    issuer = {certPem: await readFileNamed(o.issuerCertificateFile!, '--issuer-certificate-file'), keyPem: await readFileNamed(o.issuerKeyFile!, '--issuer-key-file')}
  } else if (o.newAnchorKeyFile) {
    const keyPem = await readFileNamed(o.newAnchorKeyFile, '--new-anchor-key')
    const {createPrivateKey, createPublicKey} = await import('node:crypto')
    let pub: string
    try {
      pub = createPublicKey(createPrivateKey(keyPem)).export({type: 'spki', format: 'pem'}).toString()
    } catch (error) {
      throw new InputError(`--new-anchor-key ${o.newAnchorKeyFile}: not a private key in PEM (${(error as Error).message.split('\n')[0]})`, {suggestions: ['Pass the unencrypted PEM key of the new anchor.']})
    }
    if (pub !== anchor.publicKey.export({type: 'spki', format: 'pem'}).toString()) throw new InputError(`--new-anchor-key ${o.newAnchorKeyFile} is not the key of --new ${o.newAnchorFile}`, {suggestions: ['Pass the key the new anchor was made with.']})
    const {generateIssuer} = await import('../tls/ca.js')
    const made = await generateIssuer({certPem: anchorPem, keyPem}, {commonName: `identity.${o.controlPlaneNamespace}.${o.trustDomain}`, keyType: anchor.publicKey.asymmetricKeyType === 'ec' ? 'ecdsa' : 'rsa'})
    issuer = {certPem: made.certPem, keyPem: made.keyPem}
  }
  if (!issuer) return {anchor}
  await validateIdentity({trustAnchorsPEM: anchorPem, issuerCertPEM: issuer.certPem, issuerKeyPEM: issuer.keyPem}, {anchors: `--new ${o.newAnchorFile}`, cert: '--issuer-certificate-file', key: '--issuer-key-file'})
  return {anchor, issuer: {...issuer, chain: parseCertificates(issuer.certPem)}}
}

const MARK: Record<Stage['state'], string> = {done: '√', ready: '→', blocked: '×', waiting: '·'}

function render(stages: Stage[], out: Output): void {
  for (const [i, s] of stages.entries()) {
    out.data(`${MARK[s.state]} ${i + 1}. ${s.title}: ${s.state}`)
    out.data(`    ${s.detail}`)
  }
}

export interface RotateResult {
  done: boolean
  stages: Stage[]
  applied: StageId[]
}

export async function rotateAnchor(kube: Kube, o: RotateOptions, out: Output): Promise<RotateResult> {
  const cpNs = o.controlPlaneNamespace
  const inputs = await loadInputs(o)
  const applied: StageId[] = []
  const deadline = Date.now() + o.waitMs
  let waitingSaid = ''
  for (;;) {
    const observed = await observe(kube, cpNs)
    if (!has(observed.bundle, inputs.anchor) && oldAnchors(observed, inputs.anchor).every((a) => !chainsTo(observed.issuerChain, a, new Date()))) {
      throw new InputError(`the installed issuer does not chain to any anchor of the bundle: this is not a state a rotation starts from`, {code: 'MESH_ROTATE_STATE', suggestions: ['Run `mesh check` and repair the identity first (`mesh upgrade --identity-...`).']})
    }
    const proxies = await liveProxies(kube, cpNs, o.trustDomain)
    const stages = planRotation({observed, newAnchor: inputs.anchor, proxies, nextIssuer: inputs.issuer})
    const next = stages.find((s) => s.state !== 'done')
    if (!next || !o.apply || next.state !== 'ready') {
      if (next?.state === 'blocked' && o.apply && Date.now() < deadline) {
        if (waitingSaid !== next.detail) out.info(`waiting at "${next.title}": ${next.detail}`)
        waitingSaid = next.detail
        await new Promise((r) => setTimeout(r, o.pollMs ?? 5000))
        continue
      }
      return {done: next === undefined, stages, applied}
    }
    if (next.id === 'add-anchor') {
      await writeBundle(kube, cpNs, [...oldAnchors(observed, inputs.anchor), inputs.anchor])
      out.info('√ added the new anchor to the bundle (trust roots, webhook caBundle, mesh-config)')
    } else if (next.id === 'new-issuer') {
      await writeIssuer(kube, cpNs, inputs.issuer!, inputs.anchor)
      out.info(`√ wrote the new issuer to Secret ${cpNs}/${ControlPlane.issuerSecret}`)
    } else if (next.id === 'drop-old-anchor') {
      await writeBundle(kube, cpNs, [inputs.anchor])
      out.info('√ dropped the old anchor from the bundle')
    }
    applied.push(next.id)
  }
}

export async function runRotateAnchor(kube: Kube, o: RotateOptions, out: Output): Promise<void> {
  const result = await rotateAnchor(kube, o, out)
  if (o.output === 'json') out.json({done: result.done, applied: result.applied, stages: result.stages})
  else render(result.stages, out)
  if (result.done) {
    out.success('The rotation is complete: the new anchor is the only one, and every live certificate chains to it.')
    return
  }
  const next = result.stages.find((s) => s.state !== 'done')!
  if (!o.apply) {
    out.info(next.state === 'ready' ? 'Dry run: nothing was written. Rerun with --apply to carry out the stages that are ready.' : `Dry run: the next stage is blocked (${next.title}).`)
    return
  }
  throw new MeshError(`the rotation stopped at "${next.title}": ${next.detail}`, {
    code: 'MESH_ROTATE_BLOCKED',
    suggestions: ['Rerun the same command when that is done: it continues where it stopped (pass --wait 30m to let it wait).'],
  })
}
