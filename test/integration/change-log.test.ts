import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import {
  appendChange,
  changeClock,
  changesOfAccount,
  CHANGES_CHANNEL,
  readChanges,
  setChangeClock,
  type Change,
} from '../../src/db/changes';
import { dropDatabase, ensureDatabase } from '../../src/db/admin';
import { checkTxcoreInvariants } from '../../src/db/invariants-txcore';
import { postTransfer } from '../../src/db/ledger';
import { insertDeposit } from '../../src/db/queries/deposits';
import { withTransaction } from '../../src/db/transaction';
import { compareHlc, HybridClock } from '../../src/domain/hlc';
import { count, houseAccount, openUserAccount } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';

const ctx = useTestContext();

/** Reads the whole log from `cursor` on, as a follower does. */
async function readAll(cursor?: string): Promise<{ changes: Change[]; cursor?: string }> {
  const changes: Change[] = [];
  for (;;) {
    const batch = await readChanges(ctx.pool, cursor, 100);
    if (batch.length === 0) return { changes, cursor };
    changes.push(...batch);
    cursor = batch[batch.length - 1]?.cursor;
  }
}

async function fund(accountId: string, amount: bigint, id = randomUUID()) {
  const bank = await houseAccount(ctx.pool, 'USD', 'external_bank');
  return withTransaction(ctx.pool, 'test-fund', (tx) =>
    postTransfer(tx, { id, debitAccountId: bank, creditAccountId: accountId, asset: 'USD', amount }),
  );
}

describe('change log', () => {
  test('a committed change has its entry; a rolled-back one has none', async () => {
    const account = await openUserAccount(ctx.pool);
    const committed = randomUUID();
    const rolledBack = randomUUID();
    await fund(account, 500n, committed);
    await expect(
      withTransaction(ctx.pool, 'test-rollback', async (tx) => {
        await postTransfer(tx, {
          id: rolledBack,
          debitAccountId: await houseAccount(ctx.pool, 'USD', 'external_bank'),
          creditAccountId: account,
          asset: 'USD',
          amount: 7n,
        });
        throw new Error('changed our mind');
      }),
    ).rejects.toThrow('changed our mind');
    expect(await count(ctx.pool, `SELECT 1 FROM change_log WHERE entity = 'transfer' AND entity_id = $1`, [committed])).toBe(1);
    expect(await count(ctx.pool, `SELECT 1 FROM change_log WHERE entity_id = $1`, [rolledBack])).toBe(0);
    // and an outbox event for the committed one, none for the other
    expect(await count(ctx.pool, `SELECT 1 FROM outbox WHERE aggregate_id = $1`, [committed])).toBe(1);
    expect(await count(ctx.pool, `SELECT 1 FROM outbox WHERE aggregate_id = $1`, [rolledBack])).toBe(0);
    // a retry of the same transfer (same id) adds no second entry
    await fund(account, 500n, committed);
    expect(await count(ctx.pool, `SELECT 1 FROM change_log WHERE entity_id = $1`, [committed])).toBe(1);
  });

  test('NOTIFY reaches a listener after commit, never for a rollback', async () => {
    const listener = new Client({ connectionString: ctx.databaseUrl });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.payload ?? ''));
    await listener.query(`LISTEN ${CHANGES_CHANNEL}`);
    try {
      await withTransaction(ctx.pool, 'test-notify', async (tx) => {
        await appendChange(tx, { entity: 'probe', entityId: 'p1', change: 'tested', data: {} });
        await new Promise((r) => setTimeout(r, 200));
        expect(heard).toEqual([]); // not before commit
      });
      await withTransaction(ctx.pool, 'test-notify-rollback', async (tx) => {
        await appendChange(tx, { entity: 'probe', entityId: 'p2', change: 'tested', data: {} });
        throw new Error('no');
      }).catch(() => undefined);
      const deadline = Date.now() + 5_000;
      while (heard.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      expect(heard).toHaveLength(1);
      expect(heard[0]).toMatch(/^probe:\d+$/);
    } finally {
      await listener.end();
    }
  });

  test('an entry that commits late (overlapping transactions) is never skipped by a reader', async () => {
    const start = (await readAll()).cursor;
    const slow = await ctx.pool.connect();
    try {
      // The slow transaction takes its entry id first and commits last: the trap of a plain sequence.
      await slow.query('BEGIN');
      await appendChange(slow, { entity: 'probe', entityId: 'slow', change: 'tested', data: {} });
      await withTransaction(ctx.pool, 'test-fast', (tx) =>
        appendChange(tx, { entity: 'probe', entityId: 'fast', change: 'tested', data: {} }),
      );
      const whileOpen = await readAll(start);
      expect(whileOpen.changes.map((c) => c.entityId)).not.toContain('slow');
      // The reader did not move past the slow transaction: from its cursor it still gets it.
      await slow.query('COMMIT');
      const after = await readAll(whileOpen.cursor);
      const seen = [...whileOpen.changes, ...after.changes].map((c) => c.entityId);
      expect(seen.filter((e) => e === 'slow')).toHaveLength(1);
      expect(seen.filter((e) => e === 'fast')).toHaveLength(1);
    } finally {
      await slow.query('ROLLBACK').catch(() => undefined);
      slow.release();
    }
  });

  test("a transaction open or prepared in another database of the cluster does not hold this database's readers back", async () => {
    const start = (await readAll()).cursor;
    const adminUrl = process.env.TXMGR_TEST_ADMIN_URL as string;
    const otherName = `t_other_${randomUUID().slice(0, 8)}`;
    const otherUrl = await ensureDatabase(adminUrl, otherName);
    const open = new Client({ connectionString: otherUrl });
    const prepared = new Client({ connectionString: otherUrl });
    const gid = `test-horizon-${randomUUID()}`;
    const here = await ctx.pool.connect();
    try {
      await open.connect();
      await prepared.connect();
      // Both take an xid below the change written next: a cluster-wide horizon would hide it.
      await open.query('BEGIN');
      await open.query('SELECT pg_current_xact_id()');
      await prepared.query('BEGIN');
      await prepared.query('SELECT pg_current_xact_id()');
      await prepared.query(`PREPARE TRANSACTION '${gid}'`);
      await withTransaction(ctx.pool, 'test-beside', (tx) =>
        appendChange(tx, { entity: 'probe', entityId: 'beside-other-db', change: 'tested', data: {} }),
      );
      expect((await readAll(start)).changes.map((c) => c.entityId)).toContain('beside-other-db');
      // The application's login (no superuser, not the other sessions' role) tells them apart too.
      expect((await readChanges(ctx.appPool, start, 1000)).map((c) => c.entityId)).toContain('beside-other-db');

      // One open in this database still holds back what committed after it.
      await here.query('BEGIN');
      await here.query('SELECT pg_current_xact_id()');
      await withTransaction(ctx.pool, 'test-behind', (tx) =>
        appendChange(tx, { entity: 'probe', entityId: 'behind-this-db', change: 'tested', data: {} }),
      );
      expect((await readAll(start)).changes.map((c) => c.entityId)).not.toContain('behind-this-db');
      await here.query('COMMIT');
      expect((await readAll(start)).changes.map((c) => c.entityId)).toContain('behind-this-db');
    } finally {
      await here.query('ROLLBACK').catch(() => undefined);
      here.release();
      await open.end().catch(() => undefined);
      await prepared.query(`ROLLBACK PREPARED '${gid}'`).catch(() => undefined);
      await prepared.end().catch(() => undefined);
      await dropDatabase(adminUrl, otherName);
    }
  });

  test('a reader inside a transaction that wrote changes does not read them before they commit', async () => {
    const start = (await readAll()).cursor;
    const tx = await ctx.pool.connect();
    try {
      await tx.query('BEGIN');
      await appendChange(tx, { entity: 'probe', entityId: 'own-uncommitted', change: 'tested', data: {} });
      // A later transaction commits: the snapshot's xmax passes this one's xid, which is in no
      // snapshot's in-flight list of its own, yet this transaction has not ended.
      await withTransaction(ctx.pool, 'test-later', (later) =>
        appendChange(later, { entity: 'probe', entityId: 'later-committed', change: 'tested', data: {} }),
      );
      const seen = await readChanges(tx, start, 100);
      expect(seen.map((c) => c.entityId)).not.toContain('own-uncommitted');
      await tx.query('ROLLBACK');
      expect((await readAll(start)).changes.map((c) => c.entityId)).not.toContain('own-uncommitted');
    } finally {
      await tx.query('ROLLBACK').catch(() => undefined);
      tx.release();
    }
  });

  test('a reader following the log during 20 concurrent writers sees every change exactly once', async () => {
    const start = (await readAll()).cursor;
    const accounts = await Promise.all(Array.from({ length: 20 }, () => openUserAccount(ctx.pool)));
    const bank = await houseAccount(ctx.pool, 'USD', 'external_bank');
    const perWriter = 10;
    let writing = true;
    const seen = new Map<string, number>();
    const expected = 20 * perWriter;
    // Follows until every change arrived (entries of a transaction still in flight anywhere in the
    // cluster wait below the reader's horizon), then reads once more: nothing may come twice.
    const follower = (async () => {
      let cursor = start;
      const deadline = Date.now() + 60_000;
      let extraRead = false;
      for (;;) {
        const batch = await readChanges(ctx.pool, cursor, 37);
        for (const c of batch) seen.set(c.id, (seen.get(c.id) ?? 0) + 1);
        if (batch.length > 0) cursor = batch[batch.length - 1]?.cursor;
        else if (!writing && (seen.size >= expected || Date.now() > deadline)) {
          if (extraRead) return;
          extraRead = true;
        } else await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const committed: string[] = [];
    await Promise.all(
      accounts.map(async (account) => {
        for (let i = 0; i < perWriter; i++) {
          const id = randomUUID();
          await withTransaction(ctx.pool, 'test-writer', async (tx) => {
            await postTransfer(tx, { id, debitAccountId: bank, creditAccountId: account, asset: 'USD', amount: 1n });
            // Hold the transaction open a little, so commits overlap and land out of id order.
            await new Promise((r) => setTimeout(r, Math.random() * 15));
          });
          committed.push(id);
        }
      }),
    );
    writing = false;
    await follower;
    const { rows } = await ctx.pool.query<{ id: string }>(
      `SELECT id::text FROM change_log WHERE entity = 'transfer' AND entity_id = ANY($1::text[])`,
      [committed],
    );
    expect(rows).toHaveLength(expected);
    for (const r of rows) expect(seen.get(r.id)).toBe(1);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });

  test("two workers' changes of one account are causally ordered even when one's clock is behind", async () => {
    const account = await openUserAccount(ctx.pool);
    const original = changeClock();
    const ahead = new HybridClock('worker-ahead', () => Date.now() + 60_000);
    const behind = new HybridClock('worker-behind', () => Date.now() - 60_000);
    try {
      for (let i = 0; i < 6; i++) {
        setChangeClock(i % 2 === 0 ? ahead : behind);
        await fund(account, 1n);
      }
    } finally {
      setChangeClock(original);
    }
    const changes = await changesOfAccount(ctx.pool, account);
    expect(changes).toHaveLength(6);
    // HLC order is commit order (ids of sequential writes), though half the writers' walls lag a minute.
    expect(changes.map((c) => Number(c.id))).toEqual([...changes.map((c) => Number(c.id))].sort((a, b) => a - b));
    expect(new Set(changes.map((c) => c.hlc.node))).toEqual(new Set(['worker-ahead', 'worker-behind']));
  });

  test("a saga's domain rows are logged as they land, in the saga's transactions", async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = `CL-${randomUUID().slice(0, 8)}`;
    await ctx.withWorker(tq, () =>
      ctx
        .client(tq)
        .depositFiat({ accountId: account, asset: 'USD', amount: '12.34', bankReference: reference, senderName: 'Log Reader' }),
    );
    const { rows } = await ctx.pool.query<{ id: string; workflow_id: string }>(
      'SELECT id, workflow_id FROM deposits WHERE bank_reference = $1',
      [reference],
    );
    const deposit = rows[0] as { id: string; workflow_id: string };
    const entries = (await changesOfAccount(ctx.pool, account)).filter((c) => c.entity === 'deposit');
    expect(entries.map((c) => c.change)).toEqual(['created', 'credited']);
    for (const e of entries) {
      expect(e.entityId).toBe(deposit.id);
      expect(e.workflowId).toBe(deposit.workflow_id);
      expect(e.hlc.node).toBe(changeClock().node);
    }
    // money as a decimal string, never a JSON number
    expect(entries[1]?.data).toMatchObject({ amount: '1234', status: 'CREDITED' });
    expect(await checkTxcoreInvariants(ctx.pool)).toEqual([]);
  });

  test('a rolled-back domain write leaves no entry and no event', async () => {
    const account = await openUserAccount(ctx.pool);
    const id = randomUUID();
    await expect(
      withTransaction(ctx.pool, 'test-deposit-rollback', async (tx) => {
        await insertDeposit(tx, {
          id,
          bankReference: `RB-${id.slice(0, 8)}`,
          accountId: account,
          asset: 'USD',
          amount: 99n,
          senderName: 'Rolled Back',
          workflowId: `wf-${id}`,
        });
        expect(await count(ctx.pool, `SELECT 1 FROM change_log WHERE entity_id = $1`, [id])).toBe(0); // not visible before commit
        expect(await tx.query(`SELECT 1 FROM change_log WHERE entity = 'deposit' AND entity_id = $1`, [id])).toMatchObject({
          rowCount: 1,
        });
        throw new Error('changed our mind');
      }),
    ).rejects.toThrow('changed our mind');
    expect(await count(ctx.pool, `SELECT 1 FROM change_log WHERE entity_id = $1`, [id])).toBe(0);
    expect(await count(ctx.pool, `SELECT 1 FROM outbox WHERE aggregate_id = $1`, [id])).toBe(0);
    expect(await checkTxcoreInvariants(ctx.pool)).toEqual([]);
  });

  test("a trigger's stamp is the worker's: above the account's clock, and the worker's next stamp above it", async () => {
    const account = await openUserAccount(ctx.pool);
    const other = await openUserAccount(ctx.pool);
    const original = changeClock();
    const ahead = new HybridClock('worker-ahead', () => Date.now() + 60_000);
    const worker = new HybridClock('worker-local');
    try {
      setChangeClock(ahead);
      await fund(account, 1n); // the account's clock is now a minute ahead of worker-local's wall
      setChangeClock(worker);
      const id = randomUUID();
      const transferId = randomUUID();
      await withTransaction(ctx.pool, 'test-deposit-stamp', async (tx) => {
        await insertDeposit(tx, {
          id,
          bankReference: `ST-${id.slice(0, 8)}`,
          accountId: account,
          asset: 'USD',
          amount: 5n,
          senderName: 'Stamp Test',
          workflowId: `wf-${id}`,
        });
        // a later change of another account in the same transaction, stamped in the worker
        const bank = await houseAccount(ctx.pool, 'USD', 'external_bank');
        await postTransfer(tx, { id: transferId, debitAccountId: bank, creditAccountId: other, asset: 'USD', amount: 1n });
      });
      const [funded, deposit] = await changesOfAccount(ctx.pool, account);
      const [transfer] = (await changesOfAccount(ctx.pool, other)).filter((c) => c.entityId === transferId);
      expect(deposit?.entity).toBe('deposit');
      expect(deposit?.hlc.node).toBe('worker-local');
      expect(compareHlc(deposit!.hlc, funded!.hlc)).toBeGreaterThan(0);
      expect(compareHlc(transfer!.hlc, deposit!.hlc)).toBeGreaterThan(0);
      // after commit the worker's clock took the trigger's stamps in: its next stamp is greater
      expect(compareHlc(worker.now(), transfer!.hlc)).toBeGreaterThan(0);
    } finally {
      setChangeClock(original);
    }
  });

  test('the invariant check finds a domain row changed without its entry, and an entry without its row', async () => {
    const account = await openUserAccount(ctx.pool);
    const id = randomUUID();
    await withTransaction(ctx.pool, 'test-deposit-unlogged', async (tx) => {
      // Triggers off for this transaction only: a write that bypasses the log.
      await tx.query(`SET LOCAL session_replication_role = replica`);
      await insertDeposit(tx, {
        id,
        bankReference: `UL-${id.slice(0, 8)}`,
        accountId: account,
        asset: 'USD',
        amount: 7n,
        senderName: 'Unlogged',
        workflowId: `wf-${id}`,
      });
    });
    expect(await checkTxcoreInvariants(ctx.pool)).toEqual([`deposit ${id} has no change-log entry for its current state`]);
    // a logged update of the row brings the log up to date
    await withTransaction(ctx.pool, 'test-deposit-logged', (tx) =>
      tx.query(`UPDATE deposits SET reason = 'seen' WHERE id = $1`, [id]),
    );
    expect(await checkTxcoreInvariants(ctx.pool)).toEqual([]);
    // an update that bypasses the log is found as well
    await withTransaction(ctx.pool, 'test-deposit-unlogged-update', async (tx) => {
      await tx.query(`SET LOCAL session_replication_role = replica`);
      await tx.query(`UPDATE deposits SET status = 'REJECTED' WHERE id = $1`, [id]);
    });
    expect(await checkTxcoreInvariants(ctx.pool)).toEqual([`deposit ${id} has no change-log entry for its current state`]);
    await withTransaction(ctx.pool, 'test-deposit-logged-again', (tx) =>
      tx.query(`UPDATE deposits SET reason = 'seen again' WHERE id = $1`, [id]),
    );
    expect(await checkTxcoreInvariants(ctx.pool)).toEqual([]);
    const phantom = randomUUID();
    const entry = await withTransaction(ctx.pool, 'test-phantom', (tx) =>
      appendChange(tx, { entity: 'withdrawal', entityId: phantom, change: 'created', data: {} }),
    );
    expect(await checkTxcoreInvariants(ctx.pool)).toEqual([
      `change-log entry ${entry.id} names a withdrawal ${phantom} that does not exist`,
    ]);
    await ctx.pool.query(`DELETE FROM change_log WHERE id = $1`, [entry.id]);
  });
});
