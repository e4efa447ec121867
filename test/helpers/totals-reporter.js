// Prints the run's totals as one plain line, "N passed, N failed, N skipped", which CI
// reads as the closing line (skipped counts skipped and todo tests). Written at
// process exit so it follows jest's own summary. When the global setup fails, jest
// never creates reporters; test/helpers/global-setup.ts prints "0 passed, 1 failed" itself.
const fs = require('node:fs');

class TotalsReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const skipped = results.numPendingTests + results.numTodoTests;
    const todo = results.numTodoTests ? ` (${results.numTodoTests} todo)` : '';
    const line = `\n${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped${todo}\n`;
    process.once('exit', () => fs.writeSync(2, line));
  }
}

module.exports = TotalsReporter;
