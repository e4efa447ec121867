// Lets `node -r ./bench/register.js bench/x.ts` run TypeScript straight from src/ and bench/
// (the same swc the tests use), so benchmarks need no separate build and paths such as
// migrations/ resolve as they do in the tests.
const fs = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = function compileTs(module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs', ignoreDynamic: true },
  });
  module._compile(code, filename);
};
