// The op graph's public surface: build a Graph with the op wrappers, compile it against a WeightStore, run it.
export { Graph, type HostRuntime, type OpNode, type OpSpec, type OutputSpec, type ViewOf } from './graph.js';
export { Tensor, GraphShapeError, type TensorRole } from './tensor.js';
export { compile, Plan, type CompileOptions, type PlanStats, type Profile, type KindTiming, type OpTiming } from './executor.js';
export { GraphBuildError } from './liveness.js';
export { planMemory, MemoryPlanError, type MemoryPlan, type BufferRequest } from './memory-planner.js';
export { WeightStore } from './weights.js';
export * as ops from './ops/index.js';
export { formatProfile } from './profile-report.js';
