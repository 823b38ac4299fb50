// `mesh check`: checks as data (types.ts, categories/), a runner, renderers, and the data plane
// sources (cluster, local demo). See docs/architecture/check.md.
export * from './types.js'
export {runChecks, type RunObserver, type RunOptions} from './runner.js'
export {exitCodeFor, type CheckReport, type CategoryOutcome, type CheckOutcome} from './report.js'
export {renderReport, renderJson, renderText, CHECK_OUTPUTS, type CheckOutputFormat} from './render/index.js'
export {categoriesFor, allChecks, type CheckMode} from './plan.js'
export {createContext, checkOptions, MIN_KUBERNETES_VERSION} from './context.js'
export {runMeshCheck, type MeshCheckOptions} from './run.js'
export {parseDuration} from './duration.js'
export {localSource, type LocalProxy, type LocalSourceOptions} from './data-plane/local-source.js'
export {clusterSource} from './data-plane/cluster-source.js'
export type {DataPlaneSource, ProxyInfo, Expected} from './data-plane/source.js'
export {explainFile, renderExplanations, type WorkloadExplanation} from './explain-file.js'
