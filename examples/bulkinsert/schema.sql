-- The table StoreReadings writes. The CHECK constraint is the sensors'
-- physical range: a reading outside it is refused by the database.
CREATE TABLE IF NOT EXISTS tether_example_readings (
    id     text PRIMARY KEY,
    sensor text NOT NULL,
    value  double precision NOT NULL CHECK (value BETWEEN -50 AND 150),
    at     timestamptz NOT NULL
);
