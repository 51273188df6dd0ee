package http_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	tetherhttp "github.com/tetherfn/tether/bindings/http"
)

// The suite opens inputs itself, outside any runtime, and publishes through
// Config.Send; for a webhook, publishing is an HTTP request to the route of
// whichever input is open on it. conformanceType is bindings.http under a
// test name whose NewInput records each input by route, and the test server
// stands in for the runtime's router (and, with several inputs on one route,
// for a load balancer in front of replicas).
const conformanceType = "test.http-conformance"

var webhooks = struct {
	sync.Mutex
	byPath map[string][]*recordedInput
	next   int
}{byPath: map[string][]*recordedInput{}}

// recordedInput is an opened input that leaves the routes when closed.
type recordedInput struct {
	bindings.Input
	path string
}

func (r *recordedInput) Route() (string, []string) { return r.Input.(bindings.Router).Route() }
func (r *recordedInput) ServeHTTP(w nethttp.ResponseWriter, req *nethttp.Request) {
	r.Input.(bindings.Router).ServeHTTP(w, req)
}
func (r *recordedInput) Reply(m *bindings.Message, rep bindings.Reply) {
	r.Input.(bindings.Replier).Reply(m, rep)
}

func (r *recordedInput) Close() error {
	webhooks.Lock()
	list := webhooks.byPath[r.path]
	for i, in := range list {
		if in == r {
			webhooks.byPath[r.path] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	webhooks.Unlock()
	return r.Input.Close()
}

func init() {
	t := tetherhttp.Type
	t.Name = conformanceType
	t.NewInput = func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) {
		in, err := tetherhttp.Type.NewInput(ctx, cfg)
		if err != nil {
			return nil, err
		}
		path, _ := in.(bindings.Router).Route()
		r := &recordedInput{Input: in, path: path}
		webhooks.Lock()
		webhooks.byPath[path] = append(webhooks.byPath[path], r)
		webhooks.Unlock()
		return r, nil
	}
	bindings.Register(t)
}

// router sends each request to an open input on its path, round robin; with
// none open it answers 503, as a load balancer without a healthy backend.
func router(arrived func(token string)) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		arrived(r.Header.Get("X-Conformance-Token"))
		webhooks.Lock()
		list := webhooks.byPath[r.URL.Path]
		var in *recordedInput
		if len(list) > 0 {
			webhooks.next++
			in = list[webhooks.next%len(list)]
		}
		webhooks.Unlock()
		if in == nil {
			w.Header().Set("Retry-After", "1")
			nethttp.Error(w, "no input open on this path", nethttp.StatusServiceUnavailable)
			return
		}
		in.ServeHTTP(w, r)
	})
}

// sender is a webhook sender as the big ones behave: it sends a request,
// and sends it again after Retry-After while the answer is 503, until a 2xx.
type sender struct {
	srv    *httptest.Server
	client *nethttp.Client

	mu      sync.Mutex
	waiting map[string]chan struct{}
	n       int
	wg      sync.WaitGroup
	failed  error
}

func newSender(t *testing.T) *sender {
	s := &sender{waiting: map[string]chan struct{}{}}
	s.srv = httptest.NewServer(router(s.arrived))
	tr := nethttp.DefaultTransport.(*nethttp.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	s.client = &nethttp.Client{Transport: tr}
	t.Cleanup(func() {
		s.wg.Wait()
		s.srv.Close()
		tr.CloseIdleConnections()
		if s.failed != nil {
			t.Error(s.failed)
		}
	})
	return s
}

func (s *sender) arrived(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.waiting[token]; ok {
		close(c)
		delete(s.waiting, token)
	}
}

// send publishes req to the route in md and returns once the request has
// reached the server; retries go on in the background until a 2xx or ctx
// ends.
func (s *sender) send(ctx context.Context, md map[string]string, req *bindings.InvokeRequest) error {
	s.mu.Lock()
	s.n++
	token := strconv.Itoa(s.n)
	arrived := make(chan struct{})
	s.waiting[token] = arrived
	s.mu.Unlock()

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for ctx.Err() == nil {
			hreq, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodPost, s.srv.URL+md["webhookPath"], bytes.NewReader(req.Data))
			if err != nil {
				s.fail(err)
				return
			}
			hreq.Header.Set("X-Conformance-Token", token)
			if req.ContentType != "" {
				hreq.Header.Set("Content-Type", req.ContentType)
			}
			for k, v := range req.Metadata {
				hreq.Header.Set(k, v)
			}
			resp, err := s.client.Do(hreq)
			delay := 100 * time.Millisecond
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode/100 == 2:
					return
				case resp.StatusCode == nethttp.StatusServiceUnavailable:
					if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
						delay = time.Duration(secs) * time.Second
					}
				default:
					s.fail(errors.New("webhook answered " + resp.Status))
					return
				}
			}
			select {
			case <-time.After(delay):
			case <-ctx.Done():
			}
		}
	}()
	select {
	case <-arrived:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *sender) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = err
	}
}

// TestConformance runs the whole suite on the webhook input: every subtest
// applies. Messages are HTTP requests held open by the input, settled by
// answering them; "redelivery" is the sender's retry after a 503, as with
// real webhook senders, so the checks of nack, close and competing inputs
// hold only with a sender that retries, like the one above.
// DeliveryCount is not declared: a retry is a new request the input cannot
// tell from a first one (see docs/bindings/http.md).
func TestConformance(t *testing.T) {
	s := newSender(t)
	c := bindingtest.Config{
		Type: conformanceType,
		Metadata: func(t *testing.T) map[string]string {
			return map[string]string{
				"webhookPath": "/" + bindingtest.Unique("conformance"),
				"url":         s.srv.URL,
				// The suite holds messages unsettled for a while.
				"responseTimeout": "2m",
			}
		},
		InvalidMetadata: []map[string]string{
			{"url": "not a url"},
			{"maxResponseBodySize": "lots"},
			{"MTLSClientCert": "/nonexistent/cert.pem"},
			{"securityToken": "t"}, // without securityTokenHeader
			{"webhookPath": "hooks"},
			{"webhookPath": "/healthz"},
			{"webhookPath": "/v1.0/bindings/x"},
			{"methods": " , "},
			{"maxRequestBodySize": "0"},
			{"readTimeout": "0"},
			{"responseTimeout": "-1s"},
			{"signature": "stripe"}, // without secret
			{"signature": "md5"},
		},
		Send: s.send,
	}
	if testing.Short() {
		c.Messages = 1000
	}
	bindingtest.Run(t, c)
}
