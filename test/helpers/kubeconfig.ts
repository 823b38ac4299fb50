// A kubeconfig for a test server on 127.0.0.1 (TLS not verified, a bearer token), as the
// tests that talk to a stand-in or a mute API server write it.

export interface KubeconfigOptions {
  /** The bearer token (default `test-token`). */
  token?: string
  /** The context's name (default `ctx`). */
  context?: string
}

export function kubeconfigYaml(server: string, o: KubeconfigOptions = {}): string {
  const context = o.context ?? 'ctx'
  return `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "${server}", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: ${o.token ?? 'test-token'}}
contexts:
- name: ${context}
  context: {cluster: c, user: u}
current-context: ${context}
`
}
