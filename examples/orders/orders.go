// Package orders is a function doing real work with three brokers: orders
// arrive on a RabbitMQ queue; each is stored in PostgreSQL together with its
// customer's order count; and its status is cached in Redis for an order
// tracking page to read.
//
// Delivery is at-least-once, so an order may arrive twice, and orders of
// one customer may be handled at the same time. One SQL statement stores
// the order and counts it only when it is new, so the count is exact; the
// Redis status is set, not incremented, so writing it again is harmless.
package orders

//go:generate go run github.com/tetherfn/tether/cmd/tether generate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetherfn/tether/bindings/postgres"
	"github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/functions"
)

// Order is the message body, JSON.
type Order struct {
	ID       string  `json:"id"`
	Customer string  `json:"customer"`
	Total    float64 `json:"total"`
}

// Settings come from the environment (ORDERS_STATUS_PREFIX, ORDERS_STATUS_TTL).
type Settings struct {
	StatusPrefix string        `envconfig:"STATUS_PREFIX" default:"tether-example:order:"`
	StatusTTL    time.Duration `envconfig:"STATUS_TTL" default:"24h"`
}

// Outputs are the bindings StoreOrder uses beyond its trigger.
type Outputs struct {
	DB       *postgres.Client `binding:"orders-db"`
	Status   *redis.Client    `binding:"order-status"`
	Settings Settings         `env:"ORDERS"`
}

// ErrInvalid refuses an order without an id or a customer: no retry can fix
// it, so it goes to the dead-letter queue at once.
var ErrInvalid = errors.New("order needs an id and a customer")

// StoreOrder stores one order and updates its customer's count.
//
//tether:function store-order trigger=orders
func StoreOrder(ctx context.Context, o Order, out Outputs) error {
	if o.ID == "" || o.Customer == "" {
		return functions.Permanent(ErrInvalid)
	}
	rows, err := postgres.QueryInto[struct {
		Orders int64 `json:"orders"`
	}](ctx, out.DB, storeAndCount, o.ID, o.Customer, o.Total)
	if err != nil {
		return fmt.Errorf("store order %s: %w", o.ID, err)
	}
	key := out.Settings.StatusPrefix + o.ID
	if err := out.Status.Set(ctx, key, []byte("stored"), out.Settings.StatusTTL); err != nil {
		return fmt.Errorf("cache status of %s: %w", o.ID, err)
	}
	if len(rows) == 0 { // seen before: stored and counted then
		functions.Logger(ctx).Info("order already stored", "order", o.ID)
		return nil
	}
	functions.Logger(ctx).Info("order stored", "order", o.ID, "customer", o.Customer, "orders", rows[0].Orders)
	return nil
}

// storeAndCount inserts the order and, only if it was new, adds one to its
// customer's count, atomically: one statement is one transaction.
const storeAndCount = `
WITH new AS (
    INSERT INTO tether_example_orders (id, customer, total) VALUES ($1, $2, $3)
    ON CONFLICT (id) DO NOTHING
    RETURNING customer
)
INSERT INTO tether_example_customers (customer, orders)
SELECT customer, 1 FROM new
ON CONFLICT (customer) DO UPDATE SET orders = tether_example_customers.orders + 1
RETURNING orders`
