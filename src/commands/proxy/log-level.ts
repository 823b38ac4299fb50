import {Args, Flags} from '@oclif/core'
import {BaseCommand, controlPlaneNamespaceFlag} from '../../lib/base-command.js'

export default class ProxyLogLevel extends BaseCommand<typeof ProxyLogLevel> {
  static override summary = 'Set the log level of the proxies of a pod or workload, optionally for a while.'
  static override description = `Puts the level through each proxy's admin server (PUT /proxy-log-level) over a pod port-forward, which needs \`create pods/portforward\` (the admin server takes writes from localhost only, which is what a port-forward is inside the pod). Prints "pod: old -> new" per pod.
With --for, the level is put back afterwards: by the proxy itself when it supports timed levels (it answers with the time it will), otherwise by this command, which then stays in the foreground until the time is up (Ctrl-C puts the levels back at once).`
  static override examples = [
    '<%= config.bin %> proxy log-level deploy/web debug --for 10m -n shop',
    '<%= config.bin %> proxy log-level po/web-0 info -n shop',
  ]
  static override args = {
    target: Args.string({description: 'po/NAME, deploy/NAME, sts/NAME, ds/NAME, rs/NAME, job/NAME or svc/NAME', required: true}),
    level: Args.string({description: 'error, warn, info, debug or trace', required: true}),
  }
  static override flags = {
    for: Flags.string({description: 'put the previous level back after this long, e.g. 10m (at most 24h)', helpValue: 'DURATION'}),
    'control-plane-namespace': controlPlaneNamespaceFlag(),
  }

  async run(): Promise<void> {
    const f = this.flags
    const {parseDuration} = await import('../../check/duration.js')
    const forMs = f.for === undefined ? undefined : parseDuration(f.for, '--for')
    const {runLogLevel} = await import('../../diagnostics/log-level.js')
    await runLogLevel({target: this.args.target, level: this.args.level, forMs, namespace: f.namespace, controlPlaneNamespace: f['control-plane-namespace'], kube: this.kubeOptions()}, this.out)
  }
}
