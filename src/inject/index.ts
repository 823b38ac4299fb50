// The injection library: one implementation for `mesh inject`/`mesh uninject` and the webhook.
export * from './constants.js'
export {defaultConfig, configFromConfigMapData, MESH_CONFIG_MAP, MESH_CONFIG_KEY, type MeshConfig, type MeshConfigValues, type ProxyResources} from './config.js'
export {resolveOptions, CONFIG_OPTIONS, type ProxyOptions} from './options.js'
export {injectTemplate, uninjectTemplate, annotateTemplate, isInjected, type PodTemplate, type TemplateInjection} from './pod-spec.js'
export {transformObject, TEMPLATE_PATHS, type TransformOptions} from './workloads.js'
export {transformSources, type StreamOptions, type StreamResult, type OutputFormat} from './transform.js'
export {renderReport, type ResourceReport, type ReportLine, type Status} from './report.js'
export {decide, type Decision} from './decision.js'
export {injectPodForAdmission, podOwner, type AdmissionInput, type AdmissionResult} from './webhook.js'
export {explainInjection, type Explanation} from './explain.js'
export {diff as jsonPatchDiff, type JsonPatchOp} from './json-patch.js'
export {proxyContainer, initContainer, identityVolumes, controllerIdentity} from './sidecar.js'

/** Alias under the name the issue uses: inject one pod template. */
export {injectTemplate as injectPodSpec, uninjectTemplate as uninject} from './pod-spec.js'
