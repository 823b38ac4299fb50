// Watches files for changes: fs.watch on their directories (so editors' and Kubernetes'
// atomic rename-into-place is seen) plus a polling fallback (fs.watch misses events on some
// filesystems: NFS, overlay, bind mounts). Calls `onChange` at most once per debounce window.
import {watch, type FSWatcher} from 'node:fs'
import {stat} from 'node:fs/promises'
import path from 'node:path'

export interface FileWatchOptions {
  /** Polling interval (default 2000 ms); 0 disables polling. */
  pollMs?: number
  debounceMs?: number
}

export interface FileWatch {
  close(): void
}

export function watchFiles(files: string[], onChange: () => void, opts: FileWatchOptions = {}): FileWatch {
  const debounceMs = opts.debounceMs ?? 100
  const names = new Set(files.map((f) => path.resolve(f)))
  let timer: NodeJS.Timeout | undefined
  let closed = false
  const fire = (): void => {
    if (closed || timer) return
    timer = setTimeout(() => {
      timer = undefined
      if (!closed) onChange()
    }, debounceMs)
    timer.unref()
  }
  const watchers: FSWatcher[] = []
  for (const dir of new Set([...names].map((f) => path.dirname(f)))) {
    try {
      const w = watch(dir, {persistent: false}, (_event, file) => {
        // Kubernetes swaps a `..data` symlink; any event in the directory may concern us.
        if (!file || names.has(path.join(dir, file.toString())) || file.toString().startsWith('..')) fire()
      })
      w.on('error', () => {})
      watchers.push(w)
    } catch {
      // the directory may not exist yet: polling covers it
    }
  }
  const sigs = new Map<string, string>()
  let poller: NodeJS.Timeout | undefined
  const pollMs = opts.pollMs ?? 2000
  if (pollMs > 0) {
    const poll = async (): Promise<void> => {
      let changed = false
      for (const f of names) {
        const s = await stat(f).then((st) => `${st.mtimeMs}:${st.size}:${st.ino}`, () => 'missing')
        if (sigs.has(f) && sigs.get(f) !== s) changed = true
        sigs.set(f, s)
      }
      if (changed) fire()
    }
    void poll()
    poller = setInterval(() => void poll(), pollMs)
    poller.unref()
  }
  return {
    close() {
      closed = true
      if (timer) clearTimeout(timer)
      if (poller) clearInterval(poller)
      for (const w of watchers) w.close()
    },
  }
}
