package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/jackc/pgx/v5"

	"github.com/tetherfn/tether/bindings"
	_ "github.com/tetherfn/tether/bindings/rabbitmq"
	"github.com/tetherfn/tether/examples/orders"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/functions/fntest"
)

// The handler alone (its outputs opened on the machine's PostgreSQL and
// Redis, since it uses their typed clients): an invalid order is refused
// for good and goes straight to the dead letter.
func TestInvalidOrderIsDeadLettered(t *testing.T) {
	h := fntest.New(t, orders.StoreOrderFunction(),
		fntest.Open("orders-db", bindings.Config{Type: "bindings.postgresql",
			Metadata: map[string]string{"connectionString": "postgres://postgres@127.0.0.1:5432/test"}}),
		fntest.Open("order-status", bindings.Config{Type: "bindings.redis",
			Metadata: map[string]string{"redisHost": "127.0.0.1:6379"}}))
	out := h.Send(orders.Order{ID: "o-1"})
	if out.DeadLetter == nil || !errors.Is(out.Err, orders.ErrInvalid) {
		t.Fatalf("outcome %+v, want dead-lettered for %v", out, orders.ErrInvalid)
	}
}

// TestEndToEnd runs the function on the example's own components against
// the machine's RabbitMQ, PostgreSQL and Redis: orders published to the
// queue are stored, counted and their status cached; a duplicate changes
// nothing; an invalid one lands in the dead-letter queue.
func TestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	schema, err := os.ReadFile("schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		t.Fatalf("postgres: %v (bash .ci/services.sh starts it)", err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, string(schema)); err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()

	fntest.Start(t, []string{"components"}, orders.StoreOrderFunction())

	// Customers unique to this run keep its counts its own.
	run := strconv.FormatUint(rand.Uint64(), 36)
	ada, bob := "ada-"+run, "bob-"+run
	publish := publisher(t)
	for i, o := range []orders.Order{
		{ID: run + "-1", Customer: ada, Total: 10},
		{ID: run + "-2", Customer: bob, Total: 20},
		{ID: run + "-3", Customer: ada, Total: 30},
		{ID: run + "-1", Customer: ada, Total: 10}, // redelivered by an upstream retry
		{ID: "", Customer: bob},                    // invalid
	} {
		data, _ := json.Marshal(o)
		publish(ctx, data, map[string]string{"messageID": fmt.Sprintf("%s-msg-%d", run, i)})
	}

	for _, id := range []string{run + "-1", run + "-2", run + "-3"} {
		waitStatus(ctx, t, rdb, "tether-example:order:"+id)
	}
	// The three orders are stored; the duplicate, handled before or after,
	// can never count again.
	dead := receiveDead(ctx, t, run)
	for customer, want := range map[string]int{ada: 2, bob: 1} {
		var n int
		if err := db.QueryRow(ctx, `SELECT orders FROM tether_example_customers WHERE customer = $1`, customer).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s has %d orders counted, want %d (the duplicate ignored)", customer, n, want)
		}
	}
	var env functions.DeadLetter
	if err := json.Unmarshal(dead.Data, &env); err != nil {
		t.Fatal(err)
	}
	if env.Function != "store-order" || !env.Permanent || env.Attempts != 1 {
		t.Errorf("dead letter %+v", env)
	}
}

// publisher opens the orders queue as an output, as another service would
// publish to it.
func publisher(t *testing.T) func(context.Context, []byte, map[string]string) {
	out, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "test-publisher", Type: "bindings.rabbitmq",
		Metadata: map[string]string{"host": "amqp://guest:guest@127.0.0.1:5672/", "queueName": "tether-example-orders", "durable": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return func(ctx context.Context, data []byte, md map[string]string) {
		if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: data,
			ContentType: "application/json", Metadata: md}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitStatus waits until the function has cached an order's status.
func waitStatus(ctx context.Context, t *testing.T, rdb *goredis.Client, key string) {
	t.Helper()
	for {
		got, err := rdb.Get(ctx, key).Result()
		if err == nil && got == "stored" {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s = %q (%v), want stored", key, got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiveDead reads the dead-letter queue until this run's invalid order.
func receiveDead(ctx context.Context, t *testing.T, run string) *bindings.Message {
	t.Helper()
	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "test-dead", Type: "bindings.rabbitmq",
		Metadata: map[string]string{"host": "amqp://guest:guest@127.0.0.1:5672/", "queueName": "tether-example-orders-dead", "durable": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for {
		msgs, err := in.Receive(ctx, 10)
		if err != nil {
			t.Fatalf("dead-letter queue: %v", err)
		}
		for _, m := range msgs {
			_ = in.Ack(ctx, m)
			var env functions.DeadLetter
			if json.Unmarshal(m.Data, &env) == nil && env.MessageID == run+"-msg-4" {
				return m
			}
		}
	}
}
