package all_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/cmd/tether/cli"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/internal/testkit/syncbuf"
	"github.com/tetherfn/tether/trigger"
)

// passwords hold, each, one of the characters that break naive URL
// handling, and the last all of them. "s3cr" and "w0rd" mark them: neither
// may show anywhere, not even a piece of a password a parser split.
var passwords = []string{"s3cr/T/w0rd", "s3cr?T?w0rd", "s3cr#T#w0rd", "s3cr%T%w0rd", "s3cr@T@w0rd", "s3cr:T:w0rd", "s3cr/?#%@:w0rd"}

// leakyMetadata is a component of typ that cannot reach its broker and
// holds pw in a URL (and in the keys the type declares secret), in the form
// a user writes it: unescaped.
func leakyMetadata(typ, pw, name string) map[string]string {
	at := func(scheme string) string { return scheme + "://user:" + pw + "@127.0.0.1:1" }
	switch typ {
	case "bindings.aws.sqs":
		return map[string]string{"queueName": name, "region": "us-east-1", "endpoint": at("http"), "accessKey": "AKIDREDACTTEST", "secretKey": pw}
	case "bindings.cron":
		return map[string]string{"schedule": "@every 1h", "lockRedisHost": "127.0.0.1:1", "lockRedisPassword": pw, "lockPrefix": at("redis")}
	case "bindings.gcp.pubsub":
		return map[string]string{"projectId": "redact", "topic": name, "subscription": name, "endpoint": at("http")}
	case "bindings.http":
		return map[string]string{"url": at("http") + "/x", "securityToken": pw}
	case "bindings.kafka":
		return map[string]string{"brokers": "127.0.0.1:1", "topics": name, "consumerGroup": name, "publishTopic": name,
			"authType": "password", "saslUsername": "user", "saslPassword": pw, "clientID": at("kafka")}
	case "bindings.localstorage":
		return map[string]string{"rootPath": os.DevNull + "/" + at("file")}
	case "bindings.memory":
		return map[string]string{"queue": at("memory") + "/" + name}
	case "bindings.mqtt3":
		return map[string]string{"url": at("tcp"), "topic": name, "consumerID": name}
	case "bindings.nats":
		return map[string]string{"natsURL": at("nats"), "stream": name}
	case "bindings.postgresql":
		return map[string]string{"connectionString": at("postgres") + "/db"}
	case "bindings.rabbitmq":
		return map[string]string{"host": at("amqp") + "/", "queueName": name}
	case "bindings.redis":
		return map[string]string{"redisHost": at("redis"), "redisPassword": pw}
	case "bindings.smtp":
		return map[string]string{"host": "127.0.0.1", "port": "1", "user": "user", "password": pw, "emailFrom": "a@example.com", "emailTo": "b@example.com"}
	case "bindings.twilio.sms":
		return map[string]string{"accountSid": "AC00000000000000000000000000000000", "authToken": pw, "fromNumber": "+15005550006", "toNumber": "+15005550006", "baseURL": at("http")}
	}
	return nil
}

// assertNoLeak fails when text shows pw, in any escaping, or a piece of it.
func assertNoLeak(t *testing.T, surface, text, pw string) {
	t.Helper()
	forms := []string{pw, url.PathEscape(pw), url.QueryEscape(pw), strings.ToLower(url.QueryEscape(pw)),
		strings.TrimPrefix(url.UserPassword("u", pw).String(), "u:"), "s3cr", "w0rd"}
	for _, f := range forms {
		if strings.Contains(text, f) {
			t.Errorf("%s shows %q:\n%s", surface, f, text)
			return
		}
	}
}

func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// componentFile renders a component; spec adds lines under spec.
func componentFile(name, typ string, md map[string]string, spec ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n  version: v1\n", name, typ)
	for _, s := range spec {
		fmt.Fprintf(&b, "  %s\n", s)
	}
	b.WriteString("  metadata:\n")
	for k, v := range md {
		q, _ := json.Marshal(v) // a YAML double-quoted scalar
		fmt.Fprintf(&b, "  - name: %s\n    value: %s\n", k, q)
	}
	return b.String()
}

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestNoSecretWhenOpeningFails opens every registered binding type against a
// broker it cannot reach, with a password holding each of / ? # % @ : in a
// URL of its metadata and in its secret keys, and checks every error of
// opening, receiving, invoking and closing, and every log line of the driver
// and its client library.
func TestNoSecretWhenOpeningFails(t *testing.T) {
	for _, typ := range bindings.Types() {
		md := leakyMetadata(typ.Name, "x", "x")
		if md == nil {
			t.Errorf("%s: no leaky metadata for this type: add it to leakyMetadata", typ.Name)
			continue
		}
		for i, pw := range passwords {
			t.Run(fmt.Sprintf("%s/%d", typ.Name, i), func(t *testing.T) {
				t.Parallel()
				name := fmt.Sprintf("redact-%s-%d-%d", strings.ReplaceAll(typ.Name, ".", "-"), i, time.Now().UnixNano())
				dir := writeDir(t, map[string]string{"c.yaml": componentFile("leaky", typ.Name, leakyMetadata(typ.Name, pw, name))})
				set, err := component.Load([]string{dir}, nil)
				if err != nil {
					assertNoLeak(t, "Load", err.Error(), pw)
					if typ.Check != nil {
						// Loading refused a value as opening would (the
						// type's Check, the driver's own parse): that
						// message, checked above, is what a user sees.
						return
					}
					t.Fatalf("the component does not load: %v", err)
				}
				c, _ := set.Get("leaky")
				var logs syncbuf.Buffer
				cfg := c.Config(debugLogger(&logs))
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				var errs []error
				if c.Direction.Has(bindings.DirInput) {
					in, _, err := bindings.OpenInput(ctx, cfg)
					errs = append(errs, err)
					if err == nil {
						rctx, rcancel := context.WithTimeout(ctx, time.Second)
						_, err := in.Receive(rctx, 1)
						rcancel()
						errs = append(errs, err, in.Close())
					}
				}
				if c.Direction.Has(bindings.DirOutput) {
					out, _, err := bindings.OpenOutput(ctx, cfg)
					errs = append(errs, err)
					if err == nil {
						ictx, icancel := context.WithTimeout(ctx, 2*time.Second)
						_, err := out.Invoke(ictx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("x"),
							Metadata: map[string]string{"fileName": "x", "key": "k", "emailTo": "b@example.com"}})
						icancel()
						errs = append(errs, err, out.Close())
					}
				}
				joined := errors.Join(errs...)
				if joined == nil && typ.Name != "bindings.memory" && typ.Name != "bindings.cron" {
					t.Errorf("nothing failed: the test shows nothing about errors (open, receive, invoke, close all succeeded)")
				}
				if joined != nil {
					assertNoLeak(t, "errors", joined.Error(), pw)
				}
				assertNoLeak(t, "logs", logs.String(), pw)
			})
		}
	}
}

// TestNoSecretInComponentsCommands: tether components list (text and JSON)
// and validate never show a password, nor a diagnostic about a value.
func TestNoSecretInComponentsCommands(t *testing.T) {
	for i, pw := range passwords {
		files := map[string]string{}
		for _, typ := range bindings.Types() {
			n := strings.ReplaceAll(typ.Name, ".", "-")
			files[n+".yaml"] = componentFile(n, typ.Name, leakyMetadata(typ.Name, pw, n))
		}
		dir := writeDir(t, files)
		for _, args := range [][]string{{"components", "list", dir}, {"components", "list", "--output", "json", dir}, {"components", "validate", dir}} {
			var out, errOut bytes.Buffer
			code := cli.Run(context.Background(), &cli.Env{Stdout: &out, Stderr: &errOut, Dir: dir}, args)
			// Exit 1 where a driver refuses a URL that the password
			// makes invalid (the type's Check): the problem is reported,
			// and must not quote the password either.
			if code > 1 || out.Len() == 0 && errOut.Len() == 0 {
				t.Fatalf("password %d: tether %s: exit %d\n%s%s", i, strings.Join(args, " "), code, &out, &errOut)
			}
			assertNoLeak(t, "tether "+strings.Join(args[:2], " "), out.String()+errOut.String(), pw)
		}
		// A bad value next to the password: the diagnostic quotes it.
		bad := writeDir(t, map[string]string{"bad.yaml": componentFile("bad", "bindings.memory",
			map[string]string{"maxAttempts": "amqp://user:" + pw + "@127.0.0.1:1"})})
		var out, errOut bytes.Buffer
		if code := cli.Run(context.Background(), &cli.Env{Stdout: &out, Stderr: &errOut, Dir: bad}, []string{"components", "validate", bad}); code == 0 {
			t.Fatalf("a URL as maxAttempts validated")
		}
		assertNoLeak(t, "tether components validate (a bad value)", out.String()+errOut.String(), pw)
	}
}

// TestNoSecretInRuntimeOutputs runs a function next to a component of every
// binding type, each unreachable (spec.ignoreErrors) with a password in a
// URL, and a webhook trigger whose handler fails with every URL in its
// error, then panics with them: the runtime's log, /v1.0/status, /metrics
// and the dead-letter envelopes show none of them, and the envelopes carry
// no credential header of the webhook's caller.
func TestNoSecretInRuntimeOutputs(t *testing.T) {
	files := map[string]string{}
	var urls []string
	pwOf := map[string]string{} // component name → its password
	for i, typ := range bindings.Types() {
		n := "leaky-" + strings.ReplaceAll(typ.Name, ".", "-")
		pw := passwords[i%len(passwords)]
		pwOf[n] = pw
		md := leakyMetadata(typ.Name, pw, n)
		files[n+".yaml"] = componentFile(n, typ.Name, md, "ignoreErrors: true", "initTimeout: 3s")
		for _, v := range md {
			if strings.Contains(v, pw) {
				urls = append(urls, v)
			}
		}
	}
	deadQueue := fmt.Sprintf("redact-dead-%d", time.Now().UnixNano())
	files["hook.yaml"] = componentFile("hook", "bindings.http", map[string]string{"direction": "input", "route": "/hook", "deadLetter": "dead", "maxAttempts": "1"})
	files["dead.yaml"] = componentFile("dead", "bindings.memory", map[string]string{"direction": "output", "queue": deadQueue})
	set, err := component.Load([]string{writeDir(t, files)}, nil)
	if err != nil {
		t.Fatal(err)
	}

	everyURL := strings.Join(urls, " ")
	handler := func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
		if string(m.Data) == "panic" {
			panic("cannot reach " + everyURL)
		}
		return trigger.Result{}, functions.Permanent(errors.New("cannot reach " + everyURL))
	}
	var logs syncbuf.Buffer
	rt, err := trigger.New(trigger.Options{Components: set, Logger: debugLogger(&logs),
		Functions:  []trigger.Function{{Name: "fn", Trigger: "hook", Handler: handler}},
		PublicAddr: "127.0.0.1:0", ControlAddr: "127.0.0.1:0", ShutdownGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())

	for _, body := range []string{"fail", "panic"} {
		req, _ := nethttp.NewRequest(nethttp.MethodPost, "http://"+rt.PublicAddr()+"/hook", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer caller-credential")
		req.Header.Set("Cookie", "session=caller-credential")
		req.Header.Set("X-Hub-Signature-256", "sha256=caller-credential")
		req.Header.Set("X-Kept", "kept")
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, pw := range passwords {
			assertNoLeak(t, "webhook answer", string(b), pw)
		}
	}

	// The dead letters.
	in, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "dead-reader", Type: memory.TypeName, Metadata: map[string]string{"queue": deadQueue}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var envelopes []string
	for len(envelopes) < 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		msgs, err := in.Receive(ctx, 2)
		cancel()
		if err != nil {
			t.Fatalf("dead letters: %v (got %d)", err, len(envelopes))
		}
		for _, m := range msgs {
			envelopes = append(envelopes, string(m.Data))
			var env functions.DeadLetter
			if err := json.Unmarshal(m.Data, &env); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"authorization", "cookie", "x-hub-signature-256"} {
				if _, ok := env.Metadata[k]; ok {
					t.Errorf("the dead letter carries the caller's %s header", k)
				}
			}
			if env.Metadata["x-kept"] != "kept" || !strings.Contains(env.Error, "cannot reach") {
				t.Errorf("the dead letter lost what it should keep: %s", m.Data)
			}
			in.Ack(context.Background(), m)
		}
	}
	if all := strings.Join(envelopes, "\n"); strings.Contains(all, "caller-credential") {
		t.Errorf("a dead letter shows a credential of the caller:\n%s", all)
	}

	get := func(path string) string {
		rec := httptest.NewRecorder()
		rt.Handler().ServeHTTP(rec, httptest.NewRequest(nethttp.MethodGet, path, nil))
		if rec.Code != nethttp.StatusOK {
			t.Errorf("GET %s: %d", path, rec.Code)
		}
		return rec.Body.String()
	}
	status, metrics := get("/v1.0/status"), get("/metrics")
	if !strings.Contains(logs.String(), "handler panicked") || !strings.Contains(logs.String(), "ignoreErrors") {
		t.Errorf("the log lacks the panic or the ignored bindings; the test shows nothing:\n%s", logs.String())
	}
	for n, pw := range pwOf {
		assertNoLeak(t, "dead letters ("+n+")", strings.Join(envelopes, "\n"), pw)
		assertNoLeak(t, "runtime log ("+n+")", logs.String(), pw)
		assertNoLeak(t, "/v1.0/status ("+n+")", status, pw)
		assertNoLeak(t, "/metrics ("+n+")", metrics, pw)
	}
}
