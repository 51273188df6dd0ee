package cli_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/functions"
)

// TestDLQReplay replays a dead letter through a bindings API that holds
// one: the original payload and metadata go back to the binding it came
// from first, and only then is the dead letter deleted.
func TestDLQReplay(t *testing.T) {
	envelope, err := json.Marshal(functions.DeadLetter{Function: "f", Binding: "orders", Error: "boom", Attempts: 3,
		ContentType: "text/plain", Metadata: map[string]string{"k": "v"}, Data: []byte("payload")})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		calls []string // binding operation metadata data, in order
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var in struct {
			Operation string
			Data      string
			Metadata  map[string]string
		}
		if err := json.Unmarshal(raw, &in); err != nil {
			t.Errorf("body %s: %v", raw, err)
		}
		binding := strings.TrimPrefix(r.URL.Path, "/v1.0/bindings/")
		md, _ := json.Marshal(in.Metadata)
		mu.Lock()
		calls = append(calls, strings.Join([]string{binding, in.Operation, string(md), in.Data}, " "))
		mu.Unlock()
		if binding == "dead" && in.Operation == "list" {
			_ = json.NewEncoder(w).Encode([]memory.Stored{{ID: "d1", Data: envelope, State: "ready"}})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	code, _, stderr := execCLI(t, t.TempDir(), "dlq", "replay", "dead", "--addr", srv.URL)
	if code != 0 || !strings.Contains(stderr, "replayed d1 to orders") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := []string{
		`dead list null `,
		`orders create {"contentType":"text/plain","k":"v"} payload`,
		`dead delete {"id":"d1"} `,
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("the API got\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestDLQToNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	code, _, stderr := execCLI(t, t.TempDir(), "dlq", "list", "dead", "--addr", addr)
	if code != 1 || !strings.Contains(stderr, "nothing listens on "+addr) || !strings.Contains(stderr, "tether dev") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
