// The destination component: a registry backend and the WebSocket server over TLS.
import type {DestinationRefusal} from './peer-limits.js'
import {startDestinationServer, type DestinationServer, type DestinationServerOptions} from './server.js'

/** The service takes exactly what its server takes (the registry is started here first). */
export type DestinationServiceOptions = DestinationServerOptions

export interface DestinationService {
  port: number
  /** Streams open (on either path). */
  streams(): number
  /** WebSocket connections open. */
  connections(): number
  /** Refusals by a bound (per-client connections and watches, the stream caps), by reason. */
  refused(): Record<DestinationRefusal, number>
  stop(): Promise<void>
}

export async function startDestinationService(o: DestinationServiceOptions): Promise<DestinationService> {
  await o.registry.start()
  let server: DestinationServer
  try {
    server = await startDestinationServer(o)
  } catch (err) {
    await o.registry.stop()
    throw err
  }
  o.log.info('destination service listening', {port: server.port})
  return {
    port: server.port,
    streams: () => server.streams(),
    connections: () => server.connections(),
    refused: () => server.refused(),
    stop: async () => {
      await server.close()
      await o.registry.stop()
    },
  }
}

export {LocalRegistry, parseRegistryDocument, RegistryFileError} from './local-registry.js'
export {parseAuthority, canonicalAuthority} from './authority.js'
export type {Registry, PortResolution} from './registry.js'
export {DESTINATION_REFUSALS, DESTINATION_REFUSED_FAMILY, type DestinationRefusal} from './peer-limits.js'
