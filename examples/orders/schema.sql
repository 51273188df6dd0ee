-- The tables StoreOrder writes.
CREATE TABLE IF NOT EXISTS tether_example_orders (
    id       text PRIMARY KEY,
    customer text NOT NULL,
    total    numeric NOT NULL,
    stored   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS tether_example_customers (
    customer text PRIMARY KEY,
    orders   bigint NOT NULL
);
