package trigger_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	_ "github.com/tetherfn/tether/bindings/localstorage"
	_ "github.com/tetherfn/tether/bindings/postgres"
	"github.com/tetherfn/tether/internal/testkit/syncbuf"
	"github.com/tetherfn/tether/trigger"
)

// TestErrorBodiesHideDetail: a failed invocation answers an unauthenticated
// caller with an error id, never the driver's error (a file path, a
// database's message); the log has the detail under the same id. A caller
// who showed the token gets the detail.
func TestErrorBodiesHideDetail(t *testing.T) {
	root := t.TempDir()
	table := strings.ReplaceAll(unique(t, "no_such_table"), "-", "_")
	set := loadComponents(t,
		memoryComponent("in", unique(t, "in"), map[string]string{"direction": "input"}),
		bindingtest.ComponentYAML("files", "bindings.localstorage", map[string]string{"rootPath": root}),
		bindingtest.ComponentYAML("db", "bindings.postgresql", map[string]string{
			"connectionString": "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"}),
	)
	calls := []struct{ binding, body, secret string }{
		{"files", `{"operation":"get","metadata":{"fileName":"missing.txt"}}`, "openat missing.txt: no such file"},
		{"db", `{"operation":"query","metadata":{"sql":"select * from ` + table + `"}}`, "(SQLSTATE 42P01)"},
	}
	for _, token := range []string{"", "s3cret"} {
		var logs syncbuf.Buffer
		rt := startWith(t, trigger.Options{Components: set, APIToken: token,
			Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
			Functions: []trigger.Function{{Name: "fn", Trigger: "in", Handler: ack}}})
		for _, c := range calls {
			rec := do(t, rt.Handler(), "POST", "/v1.0/bindings/"+c.binding, c.body, "dapr-api-token", token)
			var e struct{ ErrorCode, Message string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != http.StatusInternalServerError {
				t.Fatalf("token %q, %s: %d %s", token, c.binding, rec.Code, rec.Body)
			}
			id := regexp.MustCompile(`error id (\w+)`).FindStringSubmatch(e.Message)
			if id == nil {
				t.Errorf("token %q, %s: no error id in %q", token, c.binding, e.Message)
				continue
			}
			if shown := strings.Contains(e.Message, c.secret); shown != (token != "") {
				t.Errorf("token %q, %s: body %q shows the detail (%s): %v", token, c.binding, e.Message, c.secret, shown)
			}
			if !regexp.MustCompile(`errorId=` + id[1] + `.*` + regexp.QuoteMeta(c.secret)).MatchString(logs.String()) {
				t.Errorf("token %q, %s: the log has no line with errorId=%s and the detail:\n%s", token, c.binding, id[1], logs.String())
			}
		}
	}
}
