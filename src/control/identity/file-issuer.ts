// Local mode: issuer material from a directory, hot-reloaded.
//   ca.crt         trust anchor(s), PEM
//   issuer.crt     issuer certificate (then any intermediates above it), PEM
//   issuer.key     issuer private key (RSA), PEM, mode 0600
//   ca-bundle.crt  optional: the trust roots, when they differ from ca.crt (anchor rotation)
import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {watchFiles, type FileWatch} from '../file-watch.js'
import {silentLogger, type Logger} from '../logger.js'
import {IssuerError, IssuerHolder, loadIssuer, type IssuerSource, type IssuerState} from './issuer.js'

export const LOCAL_IDENTITY_FILES = {anchor: 'ca.crt', issuerCert: 'issuer.crt', issuerKey: 'issuer.key', bundle: 'ca-bundle.crt', tokenSecret: 'token-secret'} as const

export async function readIssuerDir(dir: string): Promise<IssuerState> {
  const f = (n: string): string => path.join(dir, n)
  const read = async (n: string): Promise<string> => {
    try {
      return await readFile(f(n), 'utf8')
    } catch (err) {
      throw new IssuerError(`cannot read ${f(n)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {cause: err})
    }
  }
  const bundle = existsSync(f(LOCAL_IDENTITY_FILES.bundle)) ? LOCAL_IDENTITY_FILES.bundle : LOCAL_IDENTITY_FILES.anchor
  const [anchorsPem, issuerCertPem, issuerKeyPem] = await Promise.all([read(bundle), read(LOCAL_IDENTITY_FILES.issuerCert), read(LOCAL_IDENTITY_FILES.issuerKey)])
  return loadIssuer({anchorsPem, issuerCertPem, issuerKeyPem, source: dir})
}

export class FileIssuerSource implements IssuerSource {
  private readonly holder = new IssuerHolder()
  private watcher: FileWatch | undefined

  constructor(private readonly dir: string, private readonly log: Logger = silentLogger, private readonly pollMs = 2000) {}

  async start(): Promise<void> {
    this.holder.set(await readIssuerDir(this.dir))
    const files = Object.values(LOCAL_IDENTITY_FILES).map((n) => path.join(this.dir, n))
    this.watcher = watchFiles(files, () => void this.reload(), {pollMs: this.pollMs})
  }

  private async reload(): Promise<void> {
    try {
      if (this.holder.set(await readIssuerDir(this.dir))) this.log.info('issuer reloaded', {source: this.dir, notAfter: this.holder.current()?.notAfter.toISOString()})
    } catch (err) {
      this.log.warn('issuer reload failed; keeping the previous issuer', {error: (err as Error).message})
    }
  }

  current(): IssuerState | undefined {
    return this.holder.current()
  }

  onChange(listener: (s: IssuerState) => void): () => void {
    return this.holder.onChange(listener)
  }

  async stop(): Promise<void> {
    this.watcher?.close()
  }
}
