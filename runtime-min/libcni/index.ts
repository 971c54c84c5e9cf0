// runtime-min/libcni: a libcni-equivalent chain runner on pkg/invoke and pkg/cni, for `berth run`,
// `berth cni` and the overlay helpers. API (all paths absolute; names validated, no path escapes):
//
//   loadNetworkList(confDir, name): NetworkList            sync; by the "name" inside the files, libcni's
//                                                          order (*.conflist, then *.conf/*.json wrapped);
//                                                          throws NetworkNotFoundError (CniError 7)
//   scanConfDir(confDir): ConfEntry[]                      every network, invalid files reported
//   networkListFromBytes(bytes, source?, dir?)             a conflist from bytes
//   addNetworkList(list, rt, env): Promise<result>         ADD in order with prevResult; each plugin gets
//                                                          only the capabilities it declares as runtimeConfig;
//                                                          result (list's cniVersion) cached atomically;
//                                                          a failed ADD is rolled back (DEL of the plugins
//                                                          that succeeded); refused (AttachmentExistsError)
//                                                          when the cache already holds the attachment
//   delNetworkList(list, rt, env, {ignoreCachedConfig?})   reverse order; prevResult, conflist, CNI_ARGS and
//                                                          capability args from the cache when usable; a
//                                                          missing/corrupt cache never blocks DEL
//   checkNetworkList(list, rt, env)                        CHECK with the cached result (0.4.0+)
//   gcNetworkList(list, validAttachments, env)             DEL stale cached attachments, then GC (1.1.0+)
//   statusNetworkList(list, env)                           STATUS (1.1.0+)
//   cache: cacheFilePath, readCache, writeCache, deleteCache, listCachedAttachments (libcni's format)
//
//   RuntimeConf { containerId, netns, ifName, args: [k, v][], capabilityArgs: {portMappings, ips, mac, ...} }
//   CniEnv { cniPath: string[], cacheDir: string, env? }   (runtime-min/paths.ts: cniPath(), cniCacheDir())
//
// Errors are CniErrors (code kept from the plugin), messages "plugin type=\"x\" failed (add): ...".
export type { CniEnv, GcAttachment, NetworkList, RuntimeConf } from './types.js'
export { loadNetworkList, networkListFromBytes, networkListFromConf, scanConfDir, NetworkNotFoundError, type ConfEntry } from './conf.js'
export { addNetworkList, AttachmentExistsError, checkNetworkList, delNetworkList, gcNetworkList, statusNetworkList, capabilityConfig, pluginStdin, type DelOptions } from './runner.js'
export { cacheFilePath, readCache, writeCache, deleteCache, listCachedAttachments, encodeCache, decodeCache, CACHE_KIND, type CachedAttachment, type CacheRead } from './cache.js'
