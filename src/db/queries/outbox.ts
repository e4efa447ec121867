import type { PoolClient } from 'pg';

/** Writes an event once: the event id is deterministic, so a retry adds nothing (a conflict on any unique key is that retry). */
export async function insertOutboxEvent(
  client: PoolClient,
  e: { eventId: string; topic: string; aggregateId: string; payload: unknown },
): Promise<boolean> {
  const { rowCount } = await client.query(
    `INSERT INTO outbox (event_id, topic, aggregate_id, payload) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING`,
    [e.eventId, e.topic, e.aggregateId, JSON.stringify(e.payload)],
  );
  return rowCount === 1;
}

/** Whether an event of `topic` was written for `aggregateId`. */
export async function hasOutboxEvent(client: PoolClient, topic: string, aggregateId: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM outbox WHERE topic = $1 AND aggregate_id = $2 LIMIT 1', [
    topic,
    aggregateId,
  ]);
  return (rowCount ?? 0) > 0;
}
