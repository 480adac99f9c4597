-- Budgets and rate limits, enforced atomically: a row per user and (UTC) day holds what
-- was spent; open reservations hold what running requests may still spend.
CREATE TABLE usage_daily (
    user_name  text NOT NULL,
    day        date NOT NULL,
    tokens     bigint NOT NULL DEFAULT 0,
    cost_usd   numeric(12, 6) NOT NULL DEFAULT 0,
    requests   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_name, day)
);

CREATE TABLE budget_reservations (
    id          bigserial PRIMARY KEY,
    user_name   text NOT NULL,
    day         date NOT NULL,
    tokens      bigint NOT NULL,
    cost_usd    numeric(12, 6) NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX budget_reservations_user_day ON budget_reservations (user_name, day);

CREATE TABLE rate_windows (
    user_name     text NOT NULL,
    window_start  timestamptz NOT NULL,
    count         integer NOT NULL,
    PRIMARY KEY (user_name, window_start)
);

ALTER TABLE usage ADD COLUMN request_id text;
