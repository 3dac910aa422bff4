export { loadgen } from './loadgen';
export type { LoadgenOptions, LoadReport, LoadProgress, LatencyUs, LoadMode, LoadExpect } from './loadgen';
