package cron_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
)

// The lock stores are the machine's Redis and PostgreSQL.
const (
	redisAddr = "127.0.0.1:6379"
	pgURL     = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// pgLockTable returns a table name of its own, dropped when the test ends.
func pgLockTable(t *testing.T) string {
	table := strings.ReplaceAll(bindingtest.Unique("tether_cron_locks"), "-", "_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, pgURL); err == nil {
			conn.Exec(ctx, "DROP TABLE IF EXISTS "+table)
			conn.Close(ctx)
		}
	})
	return table
}

func lockStores(t *testing.T) map[string]map[string]string {
	return map[string]map[string]string{
		"redis":      {"lockRedisHost": redisAddr},
		"postgresql": {"lockConnectionString": pgURL, "lockTable": pgLockTable(t)},
	}
}

// replicas opens n inputs of one function: same schedule, same lock; each
// receives and acks in a goroutine and records what it got.
func replicas(t *testing.T, n int, md map[string]string, ev *events, hold bool) []bindings.Input {
	t.Helper()
	ins := make([]bindings.Input, n)
	for i := range ins {
		ins[i] = openInput(t, md, ev.logger(i))
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); wg.Wait() })
	for i, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				msgs, err := in.Receive(ctx, 1)
				if err != nil {
					return
				}
				for _, m := range msgs {
					ev.add(event{replica: i, msg: "received", tick: m.ID})
					if !hold {
						in.Ack(ctx, m)
					}
				}
			}
		}()
	}
	return ins
}

// TestOneReplicaFiresEachTick: three replicas share a lock; every tick after
// they all run is decided by all three, and fired by exactly one.
func TestOneReplicaFiresEachTick(t *testing.T) {
	t.Parallel()
	for store, lock := range lockStores(t) {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			ev := newEvents()
			md := map[string]string{"schedule": "@every 1s", "lockPrefix": bindingtest.Unique("tether-test-cron")}
			for k, v := range lock {
				md[k] = v
			}
			replicas(t, 3, md, ev, false)
			since := time.Now().UTC().Format(time.RFC3339Nano)

			const ticks = 4
			decided := func(evs []event) map[string]map[string][]int {
				d := map[string]map[string][]int{} // tick -> decision -> replicas
				for _, e := range evs {
					if e.tick <= since {
						continue
					}
					var what string
					switch e.msg {
					case "cron: tick fired":
						what = "fired"
					case "cron: tick fired by another replica":
						what = "lost"
					case "received":
						what = "received"
					default:
						if strings.Contains(e.msg, "skipped") || strings.Contains(e.msg, "failed") {
							what = "skipped"
						} else {
							continue
						}
					}
					if d[e.tick] == nil {
						d[e.tick] = map[string][]int{}
					}
					d[e.tick][what] = append(d[e.tick][what], e.replica)
				}
				return d
			}
			ev.waitFor(t, ctx, fmt.Sprintf("%d ticks decided by every replica", ticks), func(evs []event) bool {
				done := 0
				for _, d := range decided(evs) {
					if len(d["fired"])+len(d["lost"])+len(d["skipped"]) == 3 && len(d["received"]) == len(d["fired"]) {
						done++
					}
				}
				return done >= ticks
			})
			ev.mu.Lock()
			defer ev.mu.Unlock()
			for tick, d := range decided(ev.list) {
				if len(d["fired"])+len(d["lost"])+len(d["skipped"]) < 3 {
					continue // still being decided
				}
				if len(d["fired"]) != 1 || len(d["lost"]) != 2 || len(d["received"]) != 1 {
					t.Errorf("tick %s: fired by %v, lost by %v, skipped by %v, received by %v; want one replica firing it",
						tick, d["fired"], d["lost"], d["skipped"], d["received"])
				}
			}
		})
	}
}

// TestTicksDoNotOverlapAcrossReplicas: while one replica's tick is
// unsettled, the other replicas do not fire the next ticks either.
func TestTicksDoNotOverlapAcrossReplicas(t *testing.T) {
	t.Parallel()
	for store, lock := range lockStores(t) {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			ev := newEvents()
			md := map[string]string{"schedule": "@every 1s", "lockPrefix": bindingtest.Unique("tether-test-cron")}
			for k, v := range lock {
				md[k] = v
			}
			replicas(t, 2, md, ev, true) // nobody acks
			var first event
			ev.waitFor(t, ctx, "a first tick, then the next skipped by the other replica", func(evs []event) bool {
				for _, e := range evs {
					switch {
					case e.msg == "received" && first.tick == "":
						first = e
					case first.tick != "" && e.replica != first.replica && e.tick > first.tick &&
						strings.Contains(e.msg, "still unsettled on another replica"):
						return true
					}
				}
				return false
			})
			ev.mu.Lock()
			defer ev.mu.Unlock()
			for _, e := range ev.list {
				if e.msg == "received" && e.tick != first.tick {
					t.Errorf("replica %d received tick %s while tick %s is unsettled on replica %d", e.replica, e.tick, first.tick, first.replica)
				}
			}
		})
	}
}
