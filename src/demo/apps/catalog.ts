// The demo's data: a handful of books, their authors and stock levels.

export interface Book {
  id: string
  title: string
  authorId: string
}

export const AUTHORS: Record<string, string> = {
  a1: 'Ursula K. Le Guin',
  a2: 'Italo Calvino',
  a3: 'Octavia E. Butler',
  a4: 'Stanisław Lem',
}

export const BOOKS: Book[] = [
  {id: 'b1', title: 'The Dispossessed', authorId: 'a1'},
  {id: 'b2', title: 'Invisible Cities', authorId: 'a2'},
  {id: 'b3', title: 'Kindred', authorId: 'a3'},
  {id: 'b4', title: 'Solaris', authorId: 'a4'},
  {id: 'b5', title: 'The Left Hand of Darkness', authorId: 'a1'},
]

export const STOCK: Record<string, number> = {b1: 4, b2: 0, b3: 12, b4: 7, b5: 2}

/** The demo's services, the namespace they live in, and their ports behind the proxies. */
export const DEMO_NAMESPACE = 'demo'
export const SERVICE_PORTS = {web: 80, books: 80, authors: 80, stock: 7000} as const
export type DemoService = keyof typeof SERVICE_PORTS
export const DEMO_SERVICES = Object.keys(SERVICE_PORTS) as DemoService[]

export function serviceAuthority(name: DemoService, namespace = DEMO_NAMESPACE): string {
  return `${name}.${namespace}.svc.cluster.local:${SERVICE_PORTS[name]}`
}
