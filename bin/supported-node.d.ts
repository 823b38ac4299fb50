// Types of bin/supported-node.js for the tests (the bin/ files are plain JavaScript).
/** The oldest Node mesh runs on, [major, minor] (package.json "engines"). */
export declare const MIN_NODE: [number, number]
