// From the command's flags to the flat values: defaults (or the installed values on upgrade),
// then --ha, then -f files, then --set, then the dedicated image flags (last wins).
import {readFile} from 'node:fs/promises'
import {InputError, UsageError} from '../lib/errors.js'
import {splitRepository} from './schema.js'
import {coerceFlag, defaultFlat, flattenFile, HA_DEFAULTS, parseSet, type FlatValues} from './values.js'

export interface ValueInputs {
  /** Starting point: the schema's defaults, or the installed values on upgrade. */
  base?: FlatValues
  ha?: boolean
  valuesFiles?: string[]
  set?: string[]
  /** `repo[:tag]`, e.g. `registry.example.com/mesh/mesh:1.2.3`. */
  image?: string
  registry?: string
  imageTag?: string
  imagePullPolicy?: string
  webhookUrl?: string
  /** `--identity-external-issuer`: cert-manager owns the issuer Secret (identity.issuer.scheme=kubernetes.io/tls). */
  externalIssuer?: boolean
}

/** Every values source merged and checked. */
export async function resolveValues(inputs: ValueInputs): Promise<FlatValues> {
  const flat: FlatValues = {...(inputs.base ?? defaultFlat())}
  if (inputs.ha) Object.assign(flat, HA_DEFAULTS)
  for (const file of inputs.valuesFiles ?? []) Object.assign(flat, await readValuesFile(file))
  for (const arg of inputs.set ?? []) {
    const [key, value] = parseSet(arg)
    flat[key] = value
  }
  if (inputs.image !== undefined) Object.assign(flat, parseImage(inputs.image))
  if (inputs.registry !== undefined) flat['image.registry'] = coerceFlag('image.registry', inputs.registry.replace(/\/+$/, ''), '--registry')
  if (inputs.imageTag !== undefined) flat['image.tag'] = coerceFlag('image.tag', inputs.imageTag, '--image-tag')
  if (inputs.imagePullPolicy !== undefined) flat['image.pullPolicy'] = coerceFlag('image.pullPolicy', inputs.imagePullPolicy, '--image-pull-policy')
  if (inputs.externalIssuer) flat['identity.issuer.scheme'] = 'kubernetes.io/tls'
  if (inputs.webhookUrl !== undefined) flat['webhook.url'] = checkWebhookUrl(inputs.webhookUrl)
  else if (typeof flat['webhook.url'] === 'string') checkWebhookUrl(flat['webhook.url'], 'webhook.url')
  if (flat.ha === true && (flat['controller.replicas'] as number) < 2) {
    throw new UsageError(`--ha with controller.replicas=${String(flat['controller.replicas'])}: high availability needs at least 2 replicas`, {
      suggestions: ['Drop the controller.replicas override, or set it to 2 or more.'],
    })
  }
  return flat
}

async function readValuesFile(file: string): Promise<FlatValues> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new InputError(`cannot read values file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      code: 'MESH_INSTALL_VALUES_FILE',
      suggestions: ['Check the path given to -f/--values.'],
      cause: error,
    })
  }
  const YAML = await import('yaml')
  const doc = YAML.parseDocument(text, {version: '1.1', customTags: (tags) => tags.filter((t) => (typeof t === 'string' ? t !== 'timestamp' : t.tag !== 'tag:yaml.org,2002:timestamp'))})
  if (doc.errors.length > 0) {
    throw new InputError(`values file ${file} is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`, {
      code: 'MESH_INSTALL_VALUES_FILE',
      suggestions: ['Fix the YAML at the line and column named above.'],
    })
  }
  return flattenFile(doc.toJS(), `values file ${file}`)
}

/** `--image repo[:tag]`: the repository splits into registry and name; a tag, if any, sets image.tag. */
export function parseImage(image: string): FlatValues {
  const m = /^([^:@\s]+(?::\d+(?=\/))?(?:\/[^:@\s]+)*)(?::([\w][\w.-]{0,127}))?$/.exec(image)
  if (!m) {
    throw new UsageError(`--image "${image}" is not an image reference`, {
      suggestions: ['Pass a repository with an optional tag, e.g. --image registry.example.com/mesh/mesh:1.2.3 (digests are not supported).'],
    })
  }
  const [registry, name] = splitRepository(m[1]!)
  const out: FlatValues = {'image.registry': registry, 'image.name': name}
  if (m[2]) out['image.tag'] = m[2]
  return out
}

function checkWebhookUrl(url: string, where = '--webhook-url'): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UsageError(`${where} "${url}" is not a URL`, {suggestions: ['e.g. --webhook-url https://127.0.0.1:8443/inject']})
  }
  if (parsed.protocol !== 'https:') {
    throw new UsageError(`${where} "${url}" must be https (the API server only calls webhooks over TLS)`, {suggestions: ['e.g. --webhook-url https://127.0.0.1:8443/inject']})
  }
  return url
}
