package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

func TestNewEvent(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)
	m := &bindings.Message{
		ID:          "m-1",
		Data:        []byte{0xff, 0x00, '{'}, // not JSON, not UTF-8: must pass untouched
		ContentType: "application/octet-stream",
		Metadata:    map[string]string{"Content-Type": "x", "partitionKey": "p", "partition-key": "q", "id": "i", "Ünï": "u"},
		Key:         "p",
		Time:        at,
	}
	ev := functions.NewEvent("orders", "bindings.aws.sqs", 3, m)
	if err := ev.Validate(); err != nil {
		t.Fatalf("not a valid CloudEvent: %v", err)
	}
	checks := []struct{ what, got, want string }{
		{"id", ev.ID(), "m-1"},
		{"source", ev.Source(), "/bindings/orders"},
		{"type", ev.Type(), "dev.tether.aws.sqs.message"},
		{"specversion", ev.SpecVersion(), "1.0"},
		{"datacontenttype", ev.DataContentType(), "application/octet-stream"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if !ev.Time().Equal(at) {
		t.Errorf("time = %v, want %v", ev.Time(), at)
	}
	if !bytes.Equal(ev.Data(), m.Data) {
		t.Errorf("data = %x, want the payload bytes %x", ev.Data(), m.Data)
	}
	if ev.Attempt != 3 || ev.Key != "p" || ev.Metadata["partition-key"] != "q" {
		t.Errorf("Attempt, Key, Metadata = %d, %q, %v", ev.Attempt, ev.Key, ev.Metadata)
	}
	wantExt := map[string]any{
		"tetherattempt": int32(3),
		"contenttype":   "x",
		"mdid":          "i",
		// "partition-key" sorts before "partitionKey": it keeps the name.
		"partitionkey":  "q",
		"partitionkey2": "p",
		"n":             "u", // only ASCII letters and digits survive
	}
	got := ev.Extensions()
	if len(got) != len(wantExt) {
		t.Errorf("extensions = %v, want %v", got, wantExt)
	}
	for k, v := range wantExt {
		if got[k] != v {
			t.Errorf("extension %q = %#v, want %#v", k, got[k], v)
		}
	}

	// Marshalled, the payload survives byte for byte.
	js, err := json.Marshal(ev.Event)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		DataBase64 []byte `json:"data_base64"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.DataBase64, m.Data) {
		t.Errorf("marshalled data_base64 = %x, want %x (%s)", back.DataBase64, m.Data, js)
	}
}

func TestNewEventMinimal(t *testing.T) {
	ev := functions.NewEvent("tick", "bindings.cron", 1, &bindings.Message{ID: "1"})
	if err := ev.Validate(); err != nil {
		t.Fatalf("not a valid CloudEvent: %v", err)
	}
	if !ev.Time().IsZero() || ev.DataContentType() != "" || ev.Data() != nil {
		t.Errorf("time, datacontenttype, data = %v, %q, %v; want all absent: nothing is guessed", ev.Time(), ev.DataContentType(), ev.Data())
	}
	if ev.Type() != "dev.tether.cron.message" {
		t.Errorf("type = %q", ev.Type())
	}
}

func TestExtensionName(t *testing.T) {
	for key, want := range map[string]string{
		"messageId":    "messageid",
		"x-amz-Trace":  "xamztrace",
		"time":         "mdtime",
		"Type":         "mdtype",
		"data_base64":  "mddatabase64",
		"---":          "md",
		"":             "md",
		"kafka.offset": "kafkaoffset",
	} {
		if got := functions.ExtensionName(key); got != want {
			t.Errorf("ExtensionName(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestEventOf(t *testing.T) {
	m := &bindings.Message{ID: "7", Data: []byte(`{}`)}
	ctx := functions.NewContext(context.Background(), &functions.Delivery{
		Function: "f", Binding: "in", BindingType: "bindings.memory", Attempt: 2, Message: m,
	})
	ev := functions.EventOf(ctx, m)
	if ev.Source() != "/bindings/in" || ev.Type() != "dev.tether.memory.message" || ev.Attempt != 2 {
		t.Errorf("source, type, attempt = %q, %q, %d", ev.Source(), ev.Type(), ev.Attempt)
	}
}
