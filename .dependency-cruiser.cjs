// The layering of src/, checked in `npm test` (docs/architecture.md explains each layer):
//   util <- gpu <- kernels-wgsl <- graph <- {loading, parallel} <- models <- pipeline <- {serve, cli}
//   scheduler imports nothing outside itself; sim and serve may import scheduler (serve also sim, to replay its
//   workloads); bench may import anything but cli; tokenizers is host-only text code beside util (pipeline and
//   models may use it).
// A layer may import any layer below it, never one above or beside it.
const layer = (name, allowed) => ({
  name: `${name}-imports-only-below`,
  comment: `src/${name} may import only ${allowed.length ? allowed.join(', ') : 'nothing else in src'} (and itself)`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: `^src/(${[name, ...allowed].join('|')})/` },
});

const BELOW_GRAPH = ['graph', 'kernels-wgsl', 'gpu', 'util'];
const BELOW_MODELS = ['loading', 'parallel', 'tokenizers', ...BELOW_GRAPH];
const BELOW_PIPELINE = ['models', ...BELOW_MODELS];

module.exports = {
  forbidden: [
    layer('util', []),
    layer('tokenizers', ['util']),
    layer('gpu', ['util']),
    layer('kernels-wgsl', ['gpu', 'util']),
    layer('graph', ['kernels-wgsl', 'gpu', 'util']),
    layer('loading', BELOW_GRAPH),
    layer('parallel', BELOW_GRAPH),
    layer('models', BELOW_MODELS),
    layer('pipeline', BELOW_PIPELINE),
    layer('scheduler', []),
    layer('sim', ['scheduler', 'util']),
    // sim is a library over scheduler (workloads, the simulator): the server's replay and experiments reuse it.
    layer('serve', ['pipeline', 'scheduler', 'sim', ...BELOW_PIPELINE]),
    layer('bench', ['pipeline', 'scheduler', 'sim', ...BELOW_PIPELINE]),
    layer('cli', ['serve', 'bench', 'sim', 'pipeline', 'scheduler', ...BELOW_PIPELINE]),
    {
      name: 'no-circular',
      comment: 'modules must not import each other in a cycle (type-only and lazy dynamic imports do not count: they run nothing at load)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only', 'dynamic-import'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
