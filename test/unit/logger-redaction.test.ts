import { Writable } from 'node:stream';
import { createLogger, REDACTED, REDACTED_KEYS } from '../../src/logger';

/** What the root logger writes: secrets and personal data never appear, the rest does. */
function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, stream };
}

describe('log redaction', () => {
  test('every redacted key is censored at the top level and two levels down; other fields are kept', () => {
    const { lines, stream } = capture();
    const logger = createLogger('info', 'txmgr', stream);
    for (const key of REDACTED_KEYS) {
      const secret = `SECRET-${key}-value`;
      logger.info({ [key]: secret, bankReference: 'BANK-1' }, 'top');
      logger.info({ input: { [key]: secret, amount: '100' } }, 'one down');
      logger.info({ err: { details: { [key]: secret } } }, 'two down');
    }
    const text = lines.join('');
    expect(text).not.toMatch(/SECRET-/);
    expect(lines).toHaveLength(REDACTED_KEYS.length * 3);
    for (const line of lines) expect(line).toContain(REDACTED);
    expect(text).toContain('"bankReference":"BANK-1"');
    expect(text).toContain('"amount":"100"');
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ name: 'txmgr', msg: 'top' });
  });

  test('a TOTP secret, an API key, a name and bank details in one deposit-like record', () => {
    const { lines, stream } = capture();
    const logger = createLogger('debug', 'txmgr', stream).child({ workflowId: 'deposit-BANK-7' });
    logger.debug(
      {
        deposit: { senderName: 'Ann Payer', iban: 'DE89370400440532013000', amount: '25000' },
        user: { totpSecret: 'JBSWY3DPEHPK3PXP', apiKey: 'txk_live_abcdef' },
        headers: { authorization: 'Bearer eyJhbGciOi' },
      },
      'credit',
    );
    const line = lines.join('');
    for (const secret of ['Ann Payer', 'DE89370400440532013000', 'JBSWY3DPEHPK3PXP', 'txk_live_abcdef', 'eyJhbGciOi']) {
      expect(line).not.toContain(secret);
    }
    expect(JSON.parse(line)).toMatchObject({
      workflowId: 'deposit-BANK-7',
      deposit: { senderName: REDACTED, iban: REDACTED, amount: '25000' },
      user: { totpSecret: REDACTED, apiKey: REDACTED },
      headers: { authorization: REDACTED },
    });
  });
});
