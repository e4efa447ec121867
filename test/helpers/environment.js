// Node test environment that remembers whether any test in the file failed, so the
// file's database can be kept for inspection (see test/helpers/context.ts).
const { TestEnvironment } = require('jest-environment-node');

class TxmgrEnvironment extends TestEnvironment {
  async handleTestEvent(event) {
    if (event.name === 'test_done' && event.test.errors.length > 0) this.global.__txmgrFailed = true;
    if (event.name === 'hook_failure') this.global.__txmgrFailed = true;
  }
}

module.exports = TxmgrEnvironment;
