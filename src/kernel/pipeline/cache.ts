/**
 * The stage cache the `mp` stages share (one per kernel process; tests and benchmarks set their own). The store
 * itself — content-hashed, checksummed, size-limited, on disk — is io/stage-cache.ts.
 */
import { StageCache } from '../io/stage-cache';

export { StageCache, defaultCacheDir, type StageSpec, type CacheStats, type CacheEntryInfo, type CacheInfo } from '../io/stage-cache';

let shared: StageCache | null = null;
/** The process-wide cache the `mp` stages use. */
export function stageCache(): StageCache {
  if (!shared) shared = new StageCache();
  return shared;
}
export function setStageCache(cache: StageCache): void {
  shared = cache;
}
