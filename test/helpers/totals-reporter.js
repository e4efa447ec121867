// Prints the run's totals as one plain line, "N passed, N failed", which CI reads as
// the closing line. Written at process exit so it follows jest's own summary.
const fs = require('node:fs');

class TotalsReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `\n${results.numPassedTests} passed, ${failed} failed\n`;
    process.once('exit', () => fs.writeSync(2, line));
  }
}

module.exports = TotalsReporter;
