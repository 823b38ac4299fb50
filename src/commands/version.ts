import {Flags} from '@oclif/core'
import {rawGet} from '../check/k8s-raw.js'
import {configMapData, serverVersionOf} from '../install/cluster.js'
import {loadKube} from '../k8s/client.js'
import {BaseCommand, outputFlag} from '../lib/base-command.js'
import {meshVersion} from '../lib/version.js'
import {CONTROL_PLANE_NAMESPACE, ControlPlane} from '../protocol/control-plane.js'

/** How long `mesh version` waits for the cluster before it says the server version is unavailable (unless --request-timeout says). */
const SERVER_TIMEOUT_MS = 5_000

export default class Version extends BaseCommand<typeof Version> {
  static override summary = 'Print the version of the mesh CLI and of the installed control plane.'
  static override description = 'The server version is the one the control plane was installed or last upgraded with, read from the cluster. When it cannot be read (no cluster, no control plane), it prints as "unavailable", the reason goes to stderr, and the exit code stays 0.'
  static override examples = [
    '<%= config.bin %> version',
    '<%= config.bin %> version --short',
    '<%= config.bin %> version --client -o json',
  ]
  static override flags = {
    short: Flags.boolean({description: 'print the bare version numbers only', default: false}),
    client: Flags.boolean({description: 'print the client version only, without contacting the cluster', default: false}),
    output: outputFlag(['table', 'json'] as const),
  }

  async run(): Promise<void> {
    const client = meshVersion()
    const server = this.flags.client ? undefined : await this.server()
    if (this.flags.output === 'json') {
      this.out.json(server === undefined ? {client} : {client, server: server.version ?? null, ...(server.unavailable ? {serverUnavailable: server.unavailable} : {})})
    } else if (this.flags.short) {
      this.out.data(client)
      if (server) this.out.data(server.version ?? 'unavailable')
    } else {
      this.out.data(`Client version: ${client}`)
      if (server) this.out.data(`Server version: ${server.version ?? 'unavailable'}`)
    }
    if (server?.unavailable) this.out.warn(`server version unavailable: ${server.unavailable}`)
  }

  /** The installed control plane's version, or why it cannot be read (bounded: --request-timeout, else SERVER_TIMEOUT_MS). */
  private async server(): Promise<{version?: string, unavailable?: string}> {
    try {
      const kube = await loadKube({...this.kubeOptions(), requestTimeoutMs: this.flags['request-timeout'] ?? SERVER_TIMEOUT_MS})
      const path = `/api/v1/namespaces/${CONTROL_PLANE_NAMESPACE}/configmaps/${ControlPlane.configMap}`
      const r = await rawGet(kube, path)
      if (r.status !== 200 && r.status !== 404) throw new Error(`the API server at ${kube.server} answered ${r.status} to GET ${path}`)
      return {version: serverVersionOf(r.status === 404 ? undefined : configMapData(r.body, `${kube.server}${path}`), kube.server)}
    } catch (error) {
      return {unavailable: (error as Error).message}
    }
  }
}
