// Node test environment that keeps a test's logs in memory and prints them only when
// the test fails (a passing test prints nothing), and remembers whether any test in
// the file failed, so the file's database can be kept (see test/helpers/context.ts).
const { TestEnvironment } = require('jest-environment-node');

const MAX_LINES = 5000;

class TxmgrEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    // Filled by the test logger (test/helpers/log-buffer.ts) and by captured child-process output.
    this.global.__txmgrLog = [];
    this.dropped = 0;
  }

  takeLog() {
    const log = this.global.__txmgrLog;
    const lines = log.splice(0, log.length);
    const dropped = this.dropped + Math.max(0, lines.length - MAX_LINES);
    this.dropped = 0;
    return { lines: lines.slice(-MAX_LINES), dropped };
  }

  print(title) {
    const { lines, dropped } = this.takeLog();
    if (!lines.length) return;
    const head = `\n── log of ${title} (${lines.length} lines${dropped ? `, ${dropped} earlier ones dropped` : ''}) ──\n`;
    process.stderr.write(`${head}${lines.map((l) => (l.endsWith('\n') ? l : `${l}\n`)).join('')}── end of log ──\n`);
  }

  async handleTestEvent(event) {
    if (event.name === 'test_start') {
      // Logs of the hooks and tests before this one were for them; a passing test drops its own.
      this.takeLog();
    } else if (event.name === 'test_done') {
      if (event.test.errors.length > 0) {
        this.global.__txmgrFailed = true;
        this.print(`failed test "${fullName(event.test)}"`);
      } else {
        this.takeLog();
      }
    } else if (event.name === 'hook_failure') {
      this.global.__txmgrFailed = true;
      this.print(`failed ${event.hook.type} hook${event.test ? ` of "${fullName(event.test)}"` : ''}`);
    }
  }

  async teardown() {
    if (this.global.__txmgrFailed) this.print('the end of a file with a failed test');
    await super.teardown();
  }
}

function fullName(test) {
  const names = [];
  for (let t = test; t && t.name !== 'ROOT_DESCRIBE_BLOCK'; t = t.parent) names.unshift(t.name);
  return names.join(' › ');
}

module.exports = TxmgrEnvironment;
