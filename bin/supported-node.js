// Imported first by bin/run.js: a Node older than the package supports (package.json "engines":
// 22.19 is where the Kubernetes client's HTTP library finds what it needs) is refused with one
// line naming the version and the fix. Without it, Node 20 dies inside a dependency's module code
// with a stack trace. Newer majors than the tested ones (22, 24) are not refused.
export const MIN_NODE = [22, 19]

const [major, minor] = process.versions.node.split('.').map(Number)
if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
  process.stderr.write(`Error: mesh needs Node ${MIN_NODE.join('.')} or newer (22 or 24 LTS), and this is Node ${process.versions.node} (${process.execPath}).\n` +
    '  Install a supported Node (https://nodejs.org, or your version manager: nvm install 24) and run mesh with it.\n')
  process.exit(1)
}
