package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// payloads are one of every kind an app sends and receives.
var payloads = []struct {
	name string
	data []byte
}{
	{"json object", []byte(`{"id":1,"items":["a","b"]}`)},
	{"json string", []byte(`"quoted"`)},
	{"number", []byte(`42.5`)},
	{"text", []byte("plain text, not JSON\n")},
	{"binary", []byte{0x00, 0xff, 0xfe, 0x80, 0x7f, '\n'}},
	{"empty", []byte{}},
}

type delivery struct {
	body        []byte
	contentType string
	traceparent string
}

// TestAppDeliveryPayloads: every kind of payload, with and without a
// content type, reaches the app byte-identical; without a content type it
// is application/json, as daprd sends it (an SDK reading a delivery with
// none decodes nothing and acks: the payload would be lost); a traceparent
// is passed through, or a new one made.
func TestAppDeliveryPayloads(t *testing.T) {
	queue := unique(t, "in")
	set := loadComponents(t, memoryComponent("orders", queue, map[string]string{"direction": "input"}))
	got := make(chan delivery, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			return
		}
		body, _ := io.ReadAll(r.Body)
		got <- delivery{body, r.Header.Get("Content-Type"), r.Header.Get("traceparent")}
	}))
	defer app.Close()
	fns, err := trigger.AppFunctions(context.Background(), set, trigger.AppOptions{URL: app.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	startRuntime(t, set, fns...)

	traceRE := regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)
	for _, p := range payloads {
		for _, ct := range []string{"", "application/octet-stream"} {
			memory.Publish(queue, &bindings.Message{Data: p.data, ContentType: ct})
			d := <-got
			if !bytes.Equal(d.body, p.data) {
				t.Errorf("%s, content type %q: app got %q, want %q", p.name, ct, d.body, p.data)
			}
			want := ct
			if want == "" {
				want = "application/json"
			}
			if d.contentType != want {
				t.Errorf("%s, content type %q: app got Content-Type %q, want %q", p.name, ct, d.contentType, want)
			}
			if !traceRE.MatchString(d.traceparent) {
				t.Errorf("%s: traceparent %q is not a W3C traceparent", p.name, d.traceparent)
			}
		}
	}
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	memory.Publish(queue, &bindings.Message{Data: []byte("x"), Metadata: map[string]string{"traceparent": parent}})
	if d := <-got; d.traceparent != parent {
		t.Errorf("traceparent %q, want the message's own %q", d.traceparent, parent)
	}
}

// TestAppAnswerTo: an app's JSON answer with "to" and "data" sends the
// data to those output bindings, as Dapr documents for input bindings.
func TestAppAnswerTo(t *testing.T) {
	in, out := unique(t, "in"), unique(t, "out")
	set := loadComponents(t,
		memoryComponent("orders", in, map[string]string{"direction": "input"}),
		memoryComponent("shipments", out, map[string]string{"direction": "output"}),
	)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"to":["shipments"],"data":{"ship":1}}`)
		}
	}))
	defer app.Close()
	fns, err := trigger.AppFunctions(context.Background(), set, trigger.AppOptions{URL: app.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	startRuntime(t, set, fns...)
	memory.Publish(in, &bindings.Message{Data: []byte(`{"order":1}`)})
	if got := receiveOne(t, out); string(got.Data) != `{"ship":1}` {
		t.Errorf("shipments got %q, want the answer's data {\"ship\":1}", got.Data)
	}
}

// TestOutputPayloads: the bindings API sends each kind of JSON data to the
// output as Dapr does, with the content type of metadata.contentType when
// given: a JSON string's content, anything else its JSON text, null or no
// data as nothing. (Binary data cannot be JSON: it goes over the gRPC API,
// see daprgrpc's TestGoSDKClient.)
func TestOutputPayloads(t *testing.T) {
	out := unique(t, "out")
	set := loadComponents(t, memoryComponent("shipments", out, map[string]string{"direction": "output"}))
	rt := startRuntime(t, set)
	for _, c := range []struct{ data, want string }{
		{`{"id":1,"items":["a","b"]}`, `{"id":1,"items":["a","b"]}`},
		{`"quoted"`, `quoted`},
		{`"\"quoted\""`, `"quoted"`},
		{`42.5`, `42.5`},
		{`"plain text, not JSON\n"`, "plain text, not JSON\n"},
		{`null`, ``},
	} {
		for _, ct := range []string{"", "text/plain"} {
			meta := ""
			if ct != "" {
				meta = `,"metadata":{"contentType":"` + ct + `"}`
			}
			rec := do(t, rt.Handler(), "POST", "/v1.0/bindings/shipments", `{"operation":"create","data":`+c.data+meta+`}`)
			if rec.Code/100 != 2 {
				t.Fatalf("data %s: %d %s", c.data, rec.Code, rec.Body)
			}
			got := receiveOne(t, out)
			if string(got.Data) != c.want {
				t.Errorf("data %s, content type %q: output got %q, want %q", c.data, ct, got.Data, c.want)
			}
			if got.ContentType != ct {
				t.Errorf("data %s: output got content type %q, want %q", c.data, got.ContentType, ct)
			}
		}
	}
}

// TestDaprMetadataAndShutdown: GET /v1.0/metadata in daprd's shape, PUT
// /v1.0/metadata/{key} shown under extended, POST /v1.0/shutdown ends Run.
func TestDaprMetadataAndShutdown(t *testing.T) {
	set := loadComponents(t,
		memoryComponent("orders", unique(t, "in"), map[string]string{"direction": "input"}),
		memoryComponent("shipments", unique(t, "out"), map[string]string{"direction": "output"}),
	)
	rt, err := trigger.New(trigger.Options{Components: set, AppID: "checkout", ControlAddr: "127.0.0.1:0",
		AppConnection: &trigger.AppConnection{Port: 3000, Protocol: "http", ChannelAddress: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- rt.Run(ctx) }()
	h := rt.Handler()
	if rec := do(t, h, "PUT", "/v1.0/metadata/team", "payments"); rec.Code != http.StatusNoContent {
		t.Errorf("PUT metadata = %d, want 204", rec.Code)
	}
	rec := do(t, h, "GET", "/v1.0/metadata", "")
	var md struct {
		ID             string
		RuntimeVersion string
		Components     []struct {
			Name, Type, Version string
			Capabilities        []string
		}
		Extended                map[string]string
		AppConnectionProperties struct {
			Port     int
			Protocol string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET metadata = %d %s: %v", rec.Code, rec.Body, err)
	}
	if md.ID != "checkout" || md.RuntimeVersion == "" || md.Extended["team"] != "payments" || md.AppConnectionProperties.Port != 3000 {
		t.Errorf("metadata %s", rec.Body)
	}
	if len(md.Components) != 2 || md.Components[0].Name != "orders" || md.Components[0].Type != "bindings.memory" ||
		md.Components[0].Version != "v1" || len(md.Components[0].Capabilities) != 1 || md.Components[0].Capabilities[0] != "INPUT_BINDING" ||
		md.Components[1].Capabilities[0] != "OUTPUT_BINDING" {
		t.Errorf("components %+v", md.Components)
	}
	if rec := do(t, h, "POST", "/v1.0/shutdown", ""); rec.Code != http.StatusNoContent {
		t.Errorf("shutdown = %d, want 204", rec.Code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after /v1.0/shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after POST /v1.0/shutdown")
	}
}

// receiveOne takes one message from a memory queue.
func receiveOne(t *testing.T, queue string) *bindings.Message {
	t.Helper()
	in, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "probe", Type: "bindings.memory", Metadata: map[string]string{"queue": queue}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := in.Receive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	_ = in.Ack(ctx, msgs[0])
	return msgs[0]
}
