-- Up Migration
-- The order book, its fills and trades. Prices are quote minor units per one whole base unit
-- (a multiple of the market's tick); quantities are base minor units (a multiple of its lot).

-- The arrival sequence of each market: bumped under the market's advisory lock, so it is gapless per market.
CREATE TABLE market_sequences (
  market         text PRIMARY KEY REFERENCES markets (symbol),
  last_sequence  bigint NOT NULL DEFAULT 0 CHECK (last_sequence >= 0)
);

CREATE TABLE orders (
  id                uuid PRIMARY KEY,
  market            text NOT NULL REFERENCES markets (symbol),
  owner             text NOT NULL,
  -- The caller's own id: one order per owner and client order id.
  client_order_id   text NOT NULL CHECK (length(client_order_id) BETWEEN 1 AND 64),
  side              text NOT NULL CHECK (side IN ('buy', 'sell')),
  type              text NOT NULL CHECK (type IN ('limit', 'market')),
  -- The limit price, or a market order's protection (the worst price it accepts).
  price             numeric(38, 0) NOT NULL CHECK (price > 0),
  quantity          numeric(38, 0) NOT NULL CHECK (quantity > 0),
  filled            numeric(38, 0) NOT NULL DEFAULT 0 CHECK (filled >= 0),
  status            text NOT NULL CHECK (status IN ('open', 'filled', 'cancelled', 'expired')),
  close_reason      text,
  tif               text NOT NULL CHECK (tif IN ('IOC', 'FOK', 'GTC', 'GTD')),
  expires_at        timestamptz,
  post_only         boolean NOT NULL DEFAULT false,
  sequence          bigint NOT NULL CHECK (sequence > 0),
  base_account_id   uuid NOT NULL REFERENCES accounts (id),
  quote_account_id  uuid NOT NULL REFERENCES accounts (id),
  hold_id           uuid NOT NULL REFERENCES holds (id),
  workflow_id       text NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  closed_at         timestamptz,
  UNIQUE (owner, client_order_id),
  UNIQUE (market, sequence),
  UNIQUE (hold_id),
  CHECK (filled <= quantity),
  CHECK ((status = 'filled') = (filled = quantity)),
  CHECK ((status = 'open') = (closed_at IS NULL)),
  CHECK ((tif = 'GTD') = (expires_at IS NOT NULL)),
  CHECK (type = 'limit' OR tif IN ('IOC', 'FOK')),
  CHECK (NOT post_only OR (type = 'limit' AND tif IN ('GTC', 'GTD')))
);
-- The book: open orders of a market by side, price and arrival.
CREATE INDEX orders_book_idx ON orders (market, side, price, sequence) WHERE status = 'open';
CREATE INDEX orders_workflow_idx ON orders (workflow_id);

-- A trade is the public print of one match; its fill says who traded and what they paid.
CREATE TABLE trades (
  id            uuid PRIMARY KEY,
  -- Commit-independent print order (fills of one transaction share created_at).
  seq           bigserial NOT NULL UNIQUE,
  market        text NOT NULL REFERENCES markets (symbol),
  price         numeric(38, 0) NOT NULL CHECK (price > 0),
  quantity      numeric(38, 0) NOT NULL CHECK (quantity > 0),
  quote_amount  numeric(38, 0) NOT NULL CHECK (quote_amount >= 0),
  taker_side    text NOT NULL CHECK (taker_side IN ('buy', 'sell')),
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trades_market_idx ON trades (market, seq DESC);

CREATE TABLE fills (
  id              uuid PRIMARY KEY,
  trade_id        uuid NOT NULL UNIQUE REFERENCES trades (id),
  market          text NOT NULL REFERENCES markets (symbol),
  taker_order_id  uuid NOT NULL REFERENCES orders (id),
  maker_order_id  uuid NOT NULL REFERENCES orders (id),
  price           numeric(38, 0) NOT NULL CHECK (price > 0),
  quantity        numeric(38, 0) NOT NULL CHECK (quantity > 0),
  quote_amount    numeric(38, 0) NOT NULL CHECK (quote_amount >= 0),
  -- In the quote asset; a negative maker fee is a rebate.
  taker_fee       numeric(38, 0) NOT NULL CHECK (taker_fee >= 0),
  maker_fee       numeric(38, 0) NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (taker_order_id <> maker_order_id)
);
CREATE INDEX fills_taker_idx ON fills (taker_order_id);
CREATE INDEX fills_maker_idx ON fills (maker_order_id);

-- Down Migration
DROP TABLE fills;
DROP TABLE trades;
DROP TABLE orders;
DROP TABLE market_sequences;
