// Runs the shared conformance suite for every model config (test/configs.ts);
// each must pass it unchanged.
import { CONFIGS } from './configs';
import { conformance } from './conformance';

for (const config of CONFIGS) conformance(config);
