// What scripts/build.mjs compiles into every bundle: berth's version and the build identity (the same one
// is in the shim and in bin/lib/build-id, see daemon/PROTOCOL.md). Both read "dev" in runs from the sources.
declare const __BERTH_VERSION__: string | undefined
declare const __BERTH_BUILD_ID__: string | undefined

export const DEV = 'dev'

/** package.json's version at build time. */
export const berthVersion = (): string => (typeof __BERTH_VERSION__ === 'string' ? __BERTH_VERSION__ : DEV)

/** The build identity: 16 lowercase hex digits, a hash of the sources this bundle was built from. */
export const berthBuildId = (): string => (typeof __BERTH_BUILD_ID__ === 'string' ? __BERTH_BUILD_ID__ : DEV)
