// mesh-version: the control plane runs the version this CLI expects (its own, or
// --expected-version).
import {ControlPlane} from '../../protocol/control-plane.js'
import {controlPlaneVersion, sameVersion} from '../control-plane-objects.js'
import type {Category} from '../types.js'

export function version(): Category {
  return {
    name: 'mesh-version',
    checks: [
      {
        id: 'MESH2301',
        description: 'control plane and CLI versions match',
        hint: 'Upgrade the one that is behind: `mesh upgrade | kubectl apply -f -`, or install the matching CLI.',
        async run(ctx) {
          const running = await controlPlaneVersion(ctx)
          if (!sameVersion(running, ctx.options.expectedVersion)) {
            throw new Error(`control plane (${ControlPlane.controller}) runs ${running}, expected ${ctx.options.expectedVersion}`)
          }
        },
      },
    ],
  }
}
