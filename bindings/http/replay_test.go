package http_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/trigger"
)

// replayStores are the stores a replayWindow may use. The shared ones run
// against the machine's Redis and PostgreSQL under this run's own prefix and
// table, and are checked across two replicas.
func replayStores(t *testing.T) map[string]map[string]string {
	prefix := "tether:test:replay:" + rand.Text()[:10]
	table := "tether_test_replay_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, pgConnString); err == nil {
			conn.Exec(ctx, "DROP TABLE IF EXISTS "+table)
			conn.Close(ctx)
		}
	})
	return map[string]map[string]string{
		"memory":     {},
		"redis":      {"replayRedisHost": "127.0.0.1:6379", "replayPrefix": prefix},
		"postgresql": {"replayConnectionString": pgConnString, "replayTable": table, "replayPrefix": prefix},
	}
}

const twilioURL = "https://hooks.example.com/hook"

const pgConnString = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// TestReplayWindow: GitHub and Twilio sign no timestamp; with replayWindow
// the same signed request is handled once: a replay, the same request under
// another delivery id (headers are not signed) and, for Twilio, the same
// form re-cut between names and values (which Twilio's scheme cannot tell
// apart) are refused 401, on this replica and, with a shared store, on
// another; a request that failed is forgotten so that the sender's retry is
// handled.
func TestReplayWindow(t *testing.T) {
	for storeName, store := range replayStores(t) {
		for _, p := range []struct {
			name     string
			md       map[string]string
			ct       string
			deliver  string // the delivery id header
			sign     signer
			body     string
			recut    string // the same signature, another body; "" when none
			withBody bool
		}{
			{name: "github", md: map[string]string{"signature": "github", "secret": testSecret}, ct: "application/json",
				deliver: "X-GitHub-Delivery", sign: presets[1].sign, body: `{"marker":"once"}`},
			// publicURL: the replicas sit behind one URL, the one Twilio signs.
			{name: "twilio", md: map[string]string{"signature": "twilio", "authToken": testSecret, "publicURL": twilioURL}, ct: "application/x-www-form-urlencoded",
				deliver: "I-Twilio-Idempotency-Token", sign: twilioSign,
				body:  url.Values{"Body": {"hello"}, "From": {"+15550000001"}}.Encode(), // Bodyhello From+15550000001
				recut: "Body=hel&loFrom=%2B15550000001"},                                // Bodyhel loFrom+15550000001
		} {
			t.Run(storeName+"/"+p.name, func(t *testing.T) {
				var fail atomic.Bool
				c := newCalls()
				h := func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
					c.add(m)
					if fail.Load() {
						return trigger.Result{}, errors.New("flaky")
					}
					return trigger.Result{}, nil
				}
				md := func() map[string]string {
					m := map[string]string{"replayWindow": "1h"}
					for k, v := range p.md {
						m[k] = v
					}
					for k, v := range store {
						m[k] = v
					}
					return m
				}
				replicas := []string{webhook(t, md(), h)}
				if storeName != "memory" {
					replicas = append(replicas, webhook(t, md(), h))
				}
				send := func(base, body, delivery string) int {
					t.Helper()
					signed := base + "/hook"
					if p.name == "twilio" {
						signed = twilioURL
					}
					headers := p.sign(signed, p.body, time.Now(), testSecret)
					hs := []string{p.deliver, delivery}
					for k, v := range headers {
						hs = append(hs, k, v)
					}
					resp, _ := post(t, base+"/hook", p.ct, body, hs...)
					return resp.StatusCode
				}
				first := replicas[0]
				fail.Store(true)
				if code := send(first, p.body, "d-1"); code != 503 {
					t.Fatalf("failing handler: %d, want 503", code)
				}
				fail.Store(false)
				if code := send(first, p.body, "d-1"); code != 204 {
					t.Fatalf("the sender's retry after a failure: %d, want 204", code)
				}
				for i, base := range replicas {
					if code := send(base, p.body, "d-1"); code != 401 {
						t.Errorf("replica %d: a replay: %d, want 401", i, code)
					}
					if code := send(base, p.body, "d-forged"); code != 401 {
						t.Errorf("replica %d: the same request under another delivery id: %d, want 401", i, code)
					}
					if p.recut != "" {
						if code := send(base, p.recut, "d-1"); code != 401 {
							t.Errorf("replica %d: the same form re-cut (%s): %d, want 401", i, p.recut, code)
						}
					}
				}
				if n := len(c.payloads()); n != 2 {
					t.Errorf("the handler ran %d times, want 2 (the failure and its retry)", n)
				}
			})
		}
	}
}

// TestReplayWindowOff: without replayWindow a GitHub request is not
// remembered (the default, as before), and replayWindow is refused for
// schemes whose window is their tolerance.
func TestReplayWindowOff(t *testing.T) {
	base := webhook(t, map[string]string{"signature": "github", "secret": testSecret},
		func(ctx context.Context, m *bindings.Message) (trigger.Result, error) { return trigger.Result{}, nil })
	body := `{"n":1}`
	for i := range 2 {
		if resp, _ := post(t, base+"/hook", "application/json", body, "X-Hub-Signature-256", "sha256="+hexMAC(testSecret, body)); resp.StatusCode != 204 {
			t.Errorf("send %d without replayWindow: %d, want 204", i+1, resp.StatusCode)
		}
	}
	for _, md := range []map[string]string{
		{"signature": "stripe", "secret": "s", "replayWindow": "1h"},
		{"signature": "github", "secret": "s", "replayWindow": "-1s"},
		{"signature": "github", "secret": "s", "replayWindow": "1h", "replayCacheSize": "0"},
		{"signature": "github", "secret": "s", "replayWindow": "1h", "replayRedisHost": "127.0.0.1:6379", "replayConnectionString": pgConnString},
		{"signature": "github", "secret": "s", "replayWindow": "1h", "replayTable": "x; drop table y"},
	} {
		md["direction"] = "input"
		if _, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "hook", Type: "bindings.http", Metadata: md}); err == nil {
			t.Errorf("%v opened", md)
		}
	}
}
