// The shared conformance suite (test/conformance.ts) for every model config
// (test/configs.ts), split over four files so that vitest's workers share it.
import { CONFIGS, shard } from './configs';
import { conformance } from './conformance';

for (const config of shard(CONFIGS, 1, 4)) conformance(config);
