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
