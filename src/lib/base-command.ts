// The one base command: global flags, the shared Output, and the top-level error handler.
// Commands stay thin: parse flags, call a library function with `this.out`, render.
import {Command, Flags, type Interfaces} from '@oclif/core'
import type {KubeOptions} from '../k8s/client.js'
import {DEFAULT_REQUEST_TIMEOUT_MS, formatDuration, parseRequestTimeout} from './duration.js'
import {formatError, toMeshError} from './errors.js'
import {Output, OutputClosed} from './output.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** `-o/--output` for commands whose output is data. The first choice is the default. */
export function outputFlag<const T extends string>(choices: readonly T[], description?: string) {
  return Flags.option({
    char: 'o',
    options: choices,
    default: choices[0],
    description: description ?? `output format: ${choices.join(', ')}`,
    helpGroup: 'OUTPUT',
  })()
}

/** `--control-plane-namespace`, for commands that talk to the control plane. */
export const controlPlaneNamespaceFlag = () =>
  Flags.string({description: 'namespace of the control plane', default: 'mesh-system'})

/** `--trust-domain`, for commands that name identities. */
export const trustDomainFlag = () =>
  Flags.string({description: 'trust domain of identity names', default: 'cluster.local'})

/** `--cluster-domain`, for commands that qualify Service names. */
export const clusterDomainFlag = () =>
  Flags.string({description: 'the cluster DNS domain', default: 'cluster.local'})

export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    kubeconfig: Flags.string({
      description: 'path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)',
      env: 'KUBECONFIG',
      helpGroup: 'GLOBAL',
    }),
    context: Flags.string({
      description: 'name of the kubeconfig context to use',
      helpGroup: 'GLOBAL',
    }),
    namespace: Flags.string({
      char: 'n',
      description: 'namespace (default: the context\'s namespace, else "default")',
      helpGroup: 'GLOBAL',
    }),
    'request-timeout': Flags.custom<number>({
      description: `how long to wait for each answer of the API server or the tap server, e.g. 10s, 2m; 0 waits forever (default: ${formatDuration(DEFAULT_REQUEST_TIMEOUT_MS)})`,
      helpValue: 'DURATION',
      parse: async (input) => parseRequestTimeout(input),
      helpGroup: 'GLOBAL',
    })(),
    verbose: Flags.boolean({
      description: 'print more detail on stderr',
      default: false,
      helpGroup: 'GLOBAL',
    }),
  }

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>
  protected out!: Output

  public override async init(): Promise<void> {
    await super.init()
    this.out = new Output()
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as typeof BaseCommand).baseFlags,
      args: this.ctor.args,
      enableJsonFlag: this.ctor.enableJsonFlag,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
  }

  /** How to reach the cluster, from the global flags; slow answers are told on stderr. */
  protected kubeOptions(): KubeOptions {
    const f = this.flags as {kubeconfig?: string; context?: string; namespace?: string; 'request-timeout'?: number}
    return {
      kubeconfig: f.kubeconfig,
      context: f.context,
      namespace: f.namespace,
      requestTimeoutMs: f['request-timeout'] ?? DEFAULT_REQUEST_TIMEOUT_MS,
      progress: (line) => this.out.info(line),
    }
  }

  /**
   * Every error, from flag parsing to the command's own, ends here: rendered once on stderr,
   * exit code set, nothing thrown further (so piped stdout is never cut short by process.exit).
   * A command stopped because its reader went away (EPIPE) ends quietly with exit 0.
   */
  protected override async catch(error: Error & {exitCode?: number}): Promise<void> {
    // A flag parse failure is handled here; it must not also trip oclif's "did not parse" warning.
    this.parsed = true
    if (this.out?.closed.aborted && (error instanceof OutputClosed || error?.name === 'AbortError')) return
    const ctor = this.ctor as typeof BaseCommand
    const meshError = toMeshError(error, this.id, {
      examples: (ctor.examples ?? []).map((e) => (typeof e === 'string' ? e : e.command).replaceAll('<%= config.bin %>', this.config.bin)),
      flags: Object.keys({...ctor.baseFlags, ...ctor.flags}),
    })
    const stderr = this.out?.stderr ?? process.stderr
    stderr.write(formatError(meshError))
    process.exitCode = meshError.exitCode
  }
}
