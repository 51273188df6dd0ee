package trigger_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

func do(t *testing.T, h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHTTPAPI(t *testing.T) {
	// In a bubble, so that readiness can be checked once every goroutine
	// the runtime started has settled, instead of polled for.
	synctest.Test(t, testHTTPAPI)
}

func testHTTPAPI(t *testing.T) {
	in, out := unique(t, "in"), unique(t, "out")
	set := loadComponents(t,
		memoryComponent("orders", in, map[string]string{"maxConcurrency": "3", "direction": "input"}),
		memoryComponent("shipments", out, map[string]string{"direction": "output"}),
	)
	rt, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{{
		Name: "ship", Trigger: "orders", Return: "shipments",
		Handler: func(context.Context, *bindings.Message) (trigger.Result, error) { return trigger.Result{}, nil },
	}}, APIToken: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	h := rt.Handler()
	if rec := do(t, h, "GET", "/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz before start = %d, want 503", rec.Code)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec := do(t, h, "GET", "/healthz", ""); rec.Code != http.StatusOK {
		t.Errorf("healthz = %d", rec.Code)
	}
	// Ready once every input is receiving: the receive loop starts
	// asynchronously, and has once the bubble is idle.
	synctest.Wait()
	if rec := do(t, h, "GET", "/readyz", ""); rec.Code != http.StatusNoContent {
		t.Fatalf("readyz once started = %d, want 204", rec.Code)
	}

	// The /v1.0 API wants the token.
	if rec := do(t, h, "GET", "/v1.0/status", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("status without token = %d, want 401", rec.Code)
	}
	rec := do(t, h, "GET", "/v1.0/status", "", "dapr-api-token", "s3cret")
	var st trigger.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("status %d: %v: %s", rec.Code, err, rec.Body)
	}
	if len(st.Functions) != 1 || st.Functions[0].Delivery.MaxConcurrency != 3 || st.Functions[0].Return != "shipments" ||
		st.Functions[0].Trigger.Type != "bindings.memory" || len(st.Outputs) != 1 || st.Outputs[0].Name != "shipments" {
		t.Errorf("status = %+v", st)
	}
	if strings.Contains(rec.Body.String(), out) {
		t.Error("status shows metadata values")
	}

	// Dapr's bindings API: create on the output puts the data on its queue.
	rec = do(t, h, "POST", "/v1.0/bindings/shipments", `{"data":{"id":7},"operation":"create","metadata":{"k":"v"}}`, "dapr-api-token", "s3cret")
	if rec.Code != http.StatusNoContent {
		t.Errorf("invoke = %d %s, want 204", rec.Code, rec.Body)
	}
	probe, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "probe", Type: "bindings.memory", Metadata: map[string]string{"queue": out}})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	msgs, err := probe.Receive(context.Background(), 1)
	if err != nil || string(msgs[0].Data) != `{"id":7}` || msgs[0].Metadata["k"] != "v" {
		t.Fatalf("queued %+v, %v", msgs, err)
	}
	_ = probe.Ack(context.Background(), msgs[0])
	if memory.Len(out) != 0 {
		t.Error("probe ack did not empty the queue")
	}
	for _, tc := range []struct {
		path, body string
		code       int
		errCode    string
		message    string // a part of the message, when it matters
	}{
		{"/v1.0/bindings/nope", `{"operation":"create"}`, 404, "ERR_INVOKE_OUTPUT_BINDING", ""},
		// The trigger is input-only: the answer says how to send to it.
		{"/v1.0/bindings/orders", `{"operation":"create"}`, 404, "ERR_INVOKE_OUTPUT_BINDING", "add output to the direction key of"},
		{"/v1.0/bindings/shipments", `{"operation":"exec"}`, 400, "ERR_INVOKE_OUTPUT_BINDING", "no operation \"exec\""},
		{"/v1.0/bindings/shipments", `not json`, 400, "ERR_MALFORMED_REQUEST", ""},
	} {
		rec := do(t, h, "POST", tc.path, tc.body, "dapr-api-token", "s3cret")
		var e struct{ ErrorCode, Message string }
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != tc.code || e.ErrorCode != tc.errCode || e.Message == "" || !strings.Contains(e.Message, tc.message) {
			t.Errorf("%s %s = %d %s, want %d %s", tc.path, tc.body, rec.Code, rec.Body, tc.code, tc.errCode)
		}
	}

	rec = do(t, h, "GET", "/metrics", "")
	body, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(body), "tether_messages_in_flight") {
		t.Errorf("metrics lack tether series:\n%.500s", body)
	}
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec := do(t, h, "GET", "/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz after shutdown = %d, want 503", rec.Code)
	}
}

func TestNewReportsEveryWiringProblem(t *testing.T) {
	set := loadComponents(t,
		memoryComponent("in", unique(t, "in"), map[string]string{"direction": "input"}),
		memoryComponent("out", unique(t, "out"), map[string]string{"direction": "output"}),
	)
	noop := func(context.Context, *bindings.Message) (trigger.Result, error) { return trigger.Result{}, nil }
	_, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{
		{Name: "a", Trigger: "ni", Handler: noop},
		{Name: "b", Trigger: "out", Handler: noop},
		{Name: "c", Trigger: "in", Return: "in", Handler: noop},
		{Name: "Bad_Name", Trigger: "in", Handler: noop},
	}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`function "a": trigger: no component named "ni"; did you mean "in"?`,
		`function "b": trigger component "out" (bindings.memory) is not an input`,
		`function "c": return binding: component "in" (bindings.memory) is not an output`,
		`function name "Bad_Name"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
