package twilio_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/localstorage"
	"github.com/tetherfn/tether/bindings/twilio"
	"github.com/tetherfn/tether/functions"
)

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "s3cret-token"
	from  = "+15005550006"
)

// fakeTwilio is a stand-in for Twilio's Messages API that records every
// request it gets and answers with the next queued answer (a 201 message
// resource by default).
type fakeTwilio struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	answers  []func(w http.ResponseWriter)
}

type recorded struct {
	method, path, contentType, accept string
	user, password                    string
	basicAuth                         bool
	form                              url.Values
	rawBody                           string
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		u, p, ok := r.BasicAuth()
		f.mu.Lock()
		f.requests = append(f.requests, recorded{
			method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), accept: r.Header.Get("Accept"),
			user: u, password: p, basicAuth: ok, form: form, rawBody: string(body),
		})
		var answer func(http.ResponseWriter)
		if len(f.answers) > 0 {
			answer, f.answers = f.answers[0], f.answers[1:]
		}
		n := len(f.requests)
		f.mu.Unlock()
		if answer != nil {
			answer(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued","to":%q,"body":%q}`, n, form.Get("To"), form.Get("Body"))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTwilio) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("Twilio got no request")
	}
	return f.requests[len(f.requests)-1]
}

func (f *fakeTwilio) answer(status int, header map[string]string, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = append(f.answers, func(w http.ResponseWriter) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

func metadata(baseURL string, extra ...string) map[string]string {
	md := map[string]string{"accountSid": sid, "authToken": token, "fromNumber": from, "baseURL": baseURL}
	for i := 0; i+1 < len(extra); i += 2 {
		md[extra[i]] = extra[i+1]
	}
	return md
}

func open(t *testing.T, md map[string]string) bindings.Output {
	t.Helper()
	out, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "sms", Type: twilio.TypeName, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

func TestConformance(t *testing.T) {
	f := newFakeTwilio(t)
	bindingtest.RunOutput(t, bindingtest.Config{
		Type:     twilio.TypeName,
		Metadata: func(t *testing.T) map[string]string { return metadata(f.URL) },
		InvalidMetadata: []map[string]string{
			{"accountSid": ""},
			{"authToken": ""},
			{"fromNumber": " "},
			{"timeout": "0"},
			{"timeout": "soon"},
			{"baseURL": "ftp://example.com"},
			{"baseURL": "not a url"},
		},
	})
}

// TestRequest checks the exact request Twilio's Messages API expects.
func TestRequest(t *testing.T) {
	f := newFakeTwilio(t)
	out := open(t, metadata(f.URL, "toNumber", "+15550000001"))
	body := "Hello & welcome: 50% off = ✓"

	resp, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte(body),
		Metadata: map[string]string{"toNumber": "+15550000002"}})
	if err != nil {
		t.Fatal(err)
	}
	r := f.last(t)
	if r.method != http.MethodPost || r.path != "/2010-04-01/Accounts/"+sid+"/Messages.json" {
		t.Errorf("request %s %s", r.method, r.path)
	}
	if !r.basicAuth || r.user != sid || r.password != token {
		t.Errorf("basic auth = %v %q:%q, want the account sid and auth token", r.basicAuth, r.user, r.password)
	}
	if r.contentType != "application/x-www-form-urlencoded" || r.accept != "application/json" {
		t.Errorf("Content-Type %q, Accept %q", r.contentType, r.accept)
	}
	want := url.Values{"To": {"+15550000002"}, "From": {from}, "Body": {body}}
	if r.form.Encode() != want.Encode() {
		t.Errorf("form = %v, want exactly %v (per-call toNumber wins over the component's)", r.form, want)
	}
	if resp.Metadata["sid"] != fmt.Sprintf("SM%032d", 1) || resp.Metadata["status"] != "queued" {
		t.Errorf("answer metadata = %v", resp.Metadata)
	}

	// The next call without a toNumber goes to the component's number: the
	// override did not stick.
	if _, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("again")}); err != nil {
		t.Fatal(err)
	}
	if to := f.last(t).form.Get("To"); to != "+15550000001" {
		t.Errorf("second message went to %q, want the component's toNumber", to)
	}
}

func TestNoRecipient(t *testing.T) {
	f := newFakeTwilio(t)
	out := open(t, metadata(f.URL))
	_, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("hi")})
	if err == nil || !strings.Contains(err.Error(), "toNumber") || !functions.IsPermanent(err) {
		t.Errorf("create without any toNumber = %v, want a permanent error naming toNumber", err)
	}
	_, err = out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte{0xff, 0xfe},
		Metadata: map[string]string{"toNumber": "+15550000002"}})
	if err == nil || !functions.IsPermanent(err) {
		t.Errorf("a body that is not UTF-8 = %v, want a permanent error", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 0 {
		t.Errorf("Twilio was called %d times for messages that cannot be sent", len(f.requests))
	}
}

func TestErrors(t *testing.T) {
	f := newFakeTwilio(t)
	out := open(t, metadata(f.URL, "toNumber", "+15550000001"))
	send := func() error {
		_, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("x")})
		return err
	}

	f.answer(400, map[string]string{"Content-Type": "application/json"},
		`{"code": 21211, "message": "The 'To' number is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`)
	err := send()
	var apiErr *twilio.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 21211 || apiErr.StatusCode != 400 || !strings.Contains(err.Error(), "not a valid phone number") {
		t.Errorf("400 = %v, want an *APIError with code 21211", err)
	}
	if !functions.IsPermanent(err) {
		t.Errorf("400 is not permanent: %v", err)
	}

	f.answer(429, map[string]string{"Retry-After": "7"}, `{"code": 20429, "message": "Too Many Requests", "status": 429}`)
	err = send()
	if d, ok := functions.RetryDelay(err); !ok || d != 7*time.Second || functions.IsPermanent(err) {
		t.Errorf("429 with Retry-After 7 = %v (delay %v, %v)", err, d, ok)
	}

	f.answer(502, nil, "<html>bad gateway</html>")
	err = send()
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || functions.IsPermanent(err) || !strings.Contains(err.Error(), "bad gateway") {
		t.Errorf("502 = %v, want a retryable *APIError", err)
	}

	f.answer(201, nil, `not json`)
	if err := send(); err == nil {
		t.Error("a 201 that is not a message resource was accepted")
	}
}

func TestClient(t *testing.T) {
	f := newFakeTwilio(t)
	out := open(t, metadata(f.URL, "toNumber", "+15550000001"))
	typ, _ := bindings.Lookup(twilio.TypeName)
	var c twilio.Client
	if err := c.BindOutput(bindings.OutputBinding{Name: "sms", Type: typ, Output: out}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Send(context.Background(), "+15550000009", "parcel shipped")
	if err != nil || got != fmt.Sprintf("SM%032d", 1) {
		t.Fatalf("Send = %q, %v", got, err)
	}
	if r := f.last(t); r.form.Get("To") != "+15550000009" || r.form.Get("Body") != "parcel shipped" {
		t.Errorf("sent %v", r.form)
	}
	if _, err := c.Send(context.Background(), "", "to the default"); err != nil || f.last(t).form.Get("To") != "+15550000001" {
		t.Errorf("Send with no number: %v, to %q", err, f.last(t).form.Get("To"))
	}

	lsType, _ := bindings.Lookup(localstorage.TypeName)
	err = new(twilio.Client).BindOutput(bindings.OutputBinding{Name: "files", Type: lsType, Output: out})
	if err == nil || !strings.Contains(err.Error(), `"files"`) || !strings.Contains(err.Error(), localstorage.TypeName) || !strings.Contains(err.Error(), twilio.TypeName) {
		t.Errorf("binding a localstorage component = %v", err)
	}
}
