import {Flags} from '@oclif/core'
import {BaseCommand, controlPlaneNamespaceFlag, outputFlag, trustDomainFlag} from '../../lib/base-command.js'

export default class RotateAnchor extends BaseCommand<typeof RotateAnchor> {
  static override summary = 'Rotate the trust anchor in stages, each gated on the live data plane (dry run unless --apply).'
  static override description = `The stages: 1. add the new anchor to the bundle (trust roots, the webhook's caBundle, mesh-config); 2. wait until every live proxy trusts both anchors; 3. switch to an issuer signed by the new anchor; 4. wait until every live proxy presents a certificate from it; 5. drop the old anchor, refused while any live certificate still chains to it.
The state is read from the cluster each time, so a rerun continues where the last one stopped. Proxies are read through the API server (GET /identity on their admin port); proxies that do not report what they trust are judged by their pod spec (the anchors they were injected with), and their certificates cannot be told, so stage 4 waits for them to be restarted.
Exit codes: 0 when the rotation is complete or (dry run) the plan was shown; 1 when --apply stopped at a gate.`
  static override examples = [
    '<%= config.bin %> identity rotate-anchor --new ca2.crt',
    '<%= config.bin %> identity rotate-anchor --new ca2.crt --new-anchor-key ca2.key --apply --wait 30m',
    '<%= config.bin %> identity rotate-anchor --new ca2.crt --issuer-certificate-file issuer2.crt --issuer-key-file issuer2.key --apply',
  ]
  static override flags = {
    new: Flags.string({description: 'PEM file of the new trust anchor (a CA, valid now)', required: true, helpValue: 'FILE'}),
    'issuer-certificate-file': Flags.string({description: 'the issuer to switch to: PEM certificate signed by the new anchor', helpValue: 'FILE'}),
    'issuer-key-file': Flags.string({description: 'its private key (RSA 2048+ or ECDSA P-256)', helpValue: 'FILE'}),
    'new-anchor-key': Flags.string({description: 'the new anchor\'s private key: an issuer is made here from it (the key is never sent to the cluster)', helpValue: 'FILE'}),
    apply: Flags.boolean({description: 'carry out the stages that are ready (default: show the plan, write nothing)', default: false}),
    wait: Flags.string({description: 'with --apply, how long to wait at a gate before stopping, e.g. 30m (default: stop at once)', helpValue: 'DURATION'}),
    output: outputFlag(['table', 'json'] as const),
    'control-plane-namespace': controlPlaneNamespaceFlag(),
    'trust-domain': trustDomainFlag(),
  }

  async run(): Promise<void> {
    const f = this.flags
    const {parseDuration} = await import('../../check/duration.js')
    const waitMs = f.wait === undefined ? 0 : parseDuration(f.wait)
    const {loadKube} = await import('../../k8s/client.js')
    const {runRotateAnchor} = await import('../../diagnostics/rotate-anchor.js')
    const kube = await loadKube(this.kubeOptions())
    await runRotateAnchor(
      kube,
      {
        newAnchorFile: f.new,
        issuerCertificateFile: f['issuer-certificate-file'],
        issuerKeyFile: f['issuer-key-file'],
        newAnchorKeyFile: f['new-anchor-key'],
        apply: f.apply,
        waitMs,
        controlPlaneNamespace: f['control-plane-namespace'],
        trustDomain: f['trust-domain'],
        output: f.output,
      },
      this.out,
    )
  }
}
