package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cebinding "github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/bodyread"
)

// input is a webhook: ServeHTTP turns each request into a message, hands it
// to Receive, and holds the request open until the message is settled (or
// responseTimeout passes), answering with the function's reply.
type input struct {
	s      inputSettings
	allow  string      // the Allow header of a 405
	replay replayStore // nil without a replay window
	logger *slog.Logger
	// refusals rate-limits the log of refused signatures.
	refusals refusalLog
	// credentials are the request headers (as metadata keys) that carry
	// the caller's credentials; see CredentialKeys.
	credentials []string

	queue chan *bindings.Message // unbuffered: a request waits for a receiver
	// direct, once the runtime set it (bindings.Direct), handles a
	// request's message on the request's goroutine instead: queue is
	// then unused.
	direct    atomic.Pointer[bindings.DirectHandler]
	closed    chan struct{}
	closeOnce sync.Once

	// watchMu guards live, the watches of direct requests being handled,
	// which Close cuts off.
	watchMu sync.Mutex
	live    map[*responseWatch]struct{}
}

var (
	_ bindings.Router         = (*input)(nil)
	_ bindings.Replier        = (*input)(nil)
	_ bindings.CredentialKeys = (*input)(nil)
	_ bindings.Direct         = (*input)(nil)
)

// credentialHeaders carry a caller's credentials, or a signature that could
// be replayed: kept out of dead letters (the handler still sees them).
var credentialHeaders = []string{"authorization", "proxy-authorization", "cookie",
	"x-twilio-signature", "x-hub-signature", "x-hub-signature-256", "stripe-signature", "x-slack-signature"}

// CredentialKeys implements bindings.CredentialKeys.
func (in *input) CredentialKeys() []string { return in.credentials }

func newInput(ctx context.Context, cfg bindings.Config) (*input, error) {
	md := allKeys(cfg.Values())
	if _, err := parseOutput(md, false); err != nil {
		return nil, err
	}
	s, err := parseInput(cfg.Name, md)
	if err != nil {
		return nil, err
	}
	replay, err := openReplayStore(ctx, s.replay, s.verifier)
	if err != nil {
		return nil, err
	}
	in := &input{
		s: s, allow: strings.Join(s.methods, ", "), logger: cfg.Logger, replay: replay,
		queue: make(chan *bindings.Message), closed: make(chan struct{}),
		refusals:    refusalLog{interval: refusalLogInterval},
		credentials: credentialHeaders,
	}
	if h := strings.TrimSpace(md.String("signatureHeader")); h != "" {
		in.credentials = append(slices.Clip(credentialHeaders), strings.ToLower(h))
	}
	return in, nil
}

// SetDirect implements bindings.Direct.
func (in *input) SetDirect(h bindings.DirectHandler) { in.direct.Store(&h) }

// Route implements bindings.Router.
func (in *input) Route() (string, []string) { return in.s.path, slices.Clone(in.s.methods) }

// The states of a request held open for its message.
const (
	waiting    uint32 = iota
	settled           // acked or nacked: the outcome is in the request
	timedOut          // answered 503 after responseTimeout
	cutOff            // answered 503 because the input closed
	senderGone        // the sender hung up
)

// request is a message's Handle: the link between the goroutine holding the
// HTTP request and the one settling its message.
type request struct {
	state       atomic.Uint32
	done        chan struct{} // closed when settled; nil when handled directly
	replayKey   string
	replayUntil time.Time

	// Written by the settling goroutine before done is closed; read by the
	// request's after.
	reply   bindings.Reply
	replied bool
	acked   bool
	delay   time.Duration
}

// settled wakes the request's goroutine, when it waits for the outcome.
func (p *request) settled() {
	if p.done != nil {
		close(p.done)
	}
}

// abandon gives the request up for reason; false when it was settled first.
func (p *request) abandon(reason uint32) bool { return p.state.CompareAndSwap(waiting, reason) }

// settleErr explains why a settled or abandoned request cannot be settled.
func (p *request) settleErr() error {
	switch p.state.Load() {
	case settled:
		return errors.New("webhook request already settled")
	case timedOut:
		return errors.New("the sender was answered 503 after responseTimeout; it will send the request again")
	case cutOff:
		return fmt.Errorf("%w: the sender was answered 503 at close; it will send the request again", bindings.ErrClosed)
	case senderGone:
		return errors.New("the sender hung up before the outcome; it may send the request again")
	}
	return nil
}

func handle(m *bindings.Message) (*request, error) {
	if m == nil {
		return nil, errors.New("nil message")
	}
	p, ok := m.Handle.(*request)
	if !ok {
		return nil, fmt.Errorf("message %q was not received from a bindings.http input", m.ID)
	}
	return p, nil
}

// Receive implements bindings.Input: it returns the requests waiting, at
// least one and at most max.
func (in *input) Receive(ctx context.Context, max int) ([]*bindings.Message, error) {
	select {
	case <-in.closed:
		return nil, bindings.ErrClosed
	default:
	}
	select {
	case m := <-in.queue:
		msgs := []*bindings.Message{m}
		for len(msgs) < max {
			select {
			case m := <-in.queue:
				msgs = append(msgs, m)
			default:
				return msgs, nil
			}
		}
		return msgs, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-in.closed:
		return nil, bindings.ErrClosed
	}
}

// Reply implements bindings.Replier: r becomes the response once the message
// is settled.
func (in *input) Reply(m *bindings.Message, r bindings.Reply) {
	p, err := handle(m)
	if err != nil || p.state.Load() != waiting {
		return
	}
	p.reply, p.replied = r, true
}

// Ack implements bindings.Input: the request is answered with the reply, or
// 204 without one.
func (in *input) Ack(_ context.Context, m *bindings.Message) error {
	p, err := handle(m)
	if err != nil {
		return err
	}
	if !p.state.CompareAndSwap(waiting, settled) {
		return p.settleErr()
	}
	p.acked = true
	in.forget(p, true) // before the answer, which lets the sender send again
	p.settled()
	return nil
}

// Nack implements bindings.Input: the request is answered 503 with
// Retry-After: delay (or with the reply, when the runtime gave a failure
// one), and the sender sends it again.
func (in *input) Nack(_ context.Context, m *bindings.Message, delay time.Duration) error {
	p, err := handle(m)
	if err != nil {
		return err
	}
	if !p.state.CompareAndSwap(waiting, settled) {
		return p.settleErr()
	}
	p.delay = delay
	in.forget(p, false) // before the answer, which asks the sender to send again
	p.settled()
	return nil
}

// forget settles the request's signature in the replay cache: kept when the
// request was handled, released when the sender is to send it again.
func (in *input) forget(p *request, handled bool) {
	if in.replay != nil && p.replayKey != "" {
		if err := in.replay.settle(context.Background(), p.replayKey, p.replayUntil, handled); err != nil {
			in.logger.Warn("webhook replay store: the request's signature was not settled; it stays in flight until it lapses", "handled", handled, "error", err)
		}
	}
}

// Close implements bindings.Input: waiting Receives return ErrClosed, and
// every request not yet settled is answered 503 for its sender to retry.
func (in *input) Close() error {
	var err error
	in.closeOnce.Do(func() {
		close(in.closed)
		// Direct requests still being handled (past the runtime's grace)
		// are answered now, as await answers queued ones.
		in.watchMu.Lock()
		for rw := range in.live {
			rw.timer.Reset(0)
		}
		in.watchMu.Unlock()
		if in.replay != nil {
			err = in.replay.close()
		}
	})
	return err
}

// ServeHTTP implements bindings.Router.
func (in *input) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	if !slices.Contains(in.s.methods, r.Method) {
		w.Header().Set("Allow", in.allow)
		nethttp.Error(w, "method not allowed", nethttp.StatusMethodNotAllowed)
		return
	}
	select {
	case <-in.closed:
		unavailable(w, time.Second, "shutting down")
		return
	default:
	}
	body, status, err := in.readBody(w, r)
	if err != nil {
		in.logger.Debug("webhook request refused", "status", status, "error", err, "remote", r.RemoteAddr)
		nethttp.Error(w, err.Error(), status)
		return
	}
	now := time.Now()
	var replayKey string
	var replayUntil time.Time
	if in.s.verifier != nil {
		key, until, err := in.authenticate(r, body, now)
		if err == nil && in.replay != nil {
			if until.IsZero() {
				until = now.Add(in.s.replay.window)
			}
			if err = in.replay.reserve(r.Context(), key, until, now); err != nil && !errors.Is(err, ErrReplayed) {
				msg := err.Error()
				if !errors.Is(err, errInFlight) {
					// The store's error stays in the log: it names hosts.
					in.logger.Warn("webhook replay store unavailable", "error", err)
					msg = "replay store unavailable; send the request again later"
				}
				unavailable(w, time.Second, msg)
				return
			}
			replayKey, replayUntil = key, until
		}
		if err != nil {
			in.refusals.refused(in.logger, err, r.RemoteAddr)
			nethttp.Error(w, err.Error(), nethttp.StatusUnauthorized)
			return
		}
	}
	m, err := in.message(r, body, now)
	if err != nil {
		in.releaseKey(replayKey)
		nethttp.Error(w, err.Error(), nethttp.StatusBadRequest)
		return
	}
	p := &request{replayKey: replayKey, replayUntil: replayUntil}
	m.Handle = p
	if h := in.direct.Load(); h != nil {
		in.handleDirect(*h, w, r, m, p)
		return
	}
	p.done = make(chan struct{})
	in.await(w, r, m, p)
}

func (in *input) releaseKey(key string) {
	if key != "" {
		if err := in.replay.settle(context.Background(), key, time.Time{}, false); err != nil {
			in.logger.Warn("webhook replay store: the request's signature was not released; it stays in flight until it lapses", "error", err)
		}
	}
}

// authenticate is everything a signed request must pass before it becomes
// a message: the method, the path and the query that the signature does not
// cover are pinned, then the signature is verified. ServeHTTP answers a
// wrong method 405 before reading the body; the check is repeated here so
// that this one function is the whole gate, which the fuzz targets drive.
func (in *input) authenticate(r *nethttp.Request, body []byte, now time.Time) (replayKey string, until time.Time, err error) {
	switch {
	case !slices.Contains(in.s.methods, r.Method):
		return "", time.Time{}, fmt.Errorf("%w: method %s is not the webhook's %s", ErrBadSignature, r.Method, in.allow)
	case r.URL.Path != in.s.path:
		return "", time.Time{}, fmt.Errorf("%w: path %q is not the webhook's %q", ErrBadSignature, r.URL.Path, in.s.path)
	case !in.s.verifier.signsURL() && r.URL.RawQuery != "":
		return "", time.Time{}, fmt.Errorf("%w: the %s signature does not cover the query: send none", ErrBadSignature, signatureName(in.s.verifier))
	}
	return in.s.verifier.verify(r, body, now)
}

// await hands m to a Receive and waits for its outcome, within
// responseTimeout from now.
func (in *input) await(w nethttp.ResponseWriter, r *nethttp.Request, m *bindings.Message, p *request) {
	timer := getTimer(in.s.responseTimeout)
	defer putTimer(timer)
	ctx := r.Context()
	select {
	case in.queue <- m:
	case <-in.closed:
		in.releaseKey(p.replayKey)
		unavailable(w, time.Second, "shutting down")
		return
	case <-timer.C:
		in.releaseKey(p.replayKey)
		unavailable(w, time.Second, "no worker free within responseTimeout")
		return
	case <-ctx.Done():
		in.releaseKey(p.replayKey)
		return
	}
	// From here on the message belongs to the runtime: an abandoned request
	// answers the sender, and the late Ack or Nack learns why.
	var reason uint32
	select {
	case <-p.done:
	case <-in.closed:
		reason = cutOff
	case <-timer.C:
		reason = timedOut
	case <-ctx.Done():
		reason = senderGone
	}
	if reason != waiting {
		if p.abandon(reason) {
			in.releaseKey(p.replayKey)
			switch reason {
			case cutOff:
				unavailable(w, time.Second, "shutting down")
			case timedOut:
				unavailable(w, time.Second, "no outcome within responseTimeout")
			}
			return
		}
		<-p.done // settled at the same moment: its outcome wins
	}
	in.respond(w, p)
}

// handleDirect has the runtime handle m on this goroutine, and answers with
// its outcome. Past responseTimeout a watch answers 503 instead, as await's
// timer does; the handler goes on, and its late Ack or Nack learns why.
// A sender that hangs up meanwhile does not stop the handler, whose outcome
// then stands.
func (in *input) handleDirect(h bindings.DirectHandler, w nethttp.ResponseWriter, r *nethttp.Request, m *bindings.Message, p *request) {
	// ctx ends when the watch answers: a worker freed after that must not
	// start the handler for a request already answered 503 (and whose
	// replay key is released for the sender's retry).
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	watch := in.watch(w, p, cancel)
	err := func() error {
		// Stopped even if a middleware outside Recover panics, which
		// net/http recovers: the watch must not write to the connection
		// it closed.
		defer watch.stop() // from here on this goroutine alone answers
		return h(ctx, m, in.s.responseTimeout)
	}()
	if err == nil && p.state.Load() == settled {
		in.respond(w, p)
		return
	}
	// Not taken (the message is still ours), or answered by the watch.
	reason, msg := timedOut, "no worker free within responseTimeout"
	switch {
	case err == nil:
		msg = "no outcome within responseTimeout"
	case errors.Is(err, bindings.ErrClosed):
		reason, msg = cutOff, "shutting down"
	case r.Context().Err() != nil:
		reason = senderGone
	}
	if !p.abandon(reason) {
		return // the watch answered
	}
	in.releaseKey(p.replayKey)
	if reason != senderGone {
		unavailable(w, time.Second, msg)
	}
}

// A responseWatch answers a request 503 at responseTimeout while its
// goroutine runs the handler, and so cannot. Watches are reused, each with
// its timer.
type responseWatch struct {
	timer *time.Timer
	done  chan struct{} // a token once expire is done with the request

	mu     sync.Mutex // orders watch's writes before expire's reads
	in     *input
	w      nethttp.ResponseWriter
	p      *request
	cancel context.CancelFunc // ends the wait for a worker
}

var watches sync.Pool

// watch answers p 503 at responseTimeout from now (at once when the input
// closes), unless it is settled by then or stop comes first; cancel is
// called when it answers.
func (in *input) watch(w nethttp.ResponseWriter, p *request, cancel context.CancelFunc) *responseWatch {
	rw, _ := watches.Get().(*responseWatch)
	if rw == nil {
		rw = &responseWatch{done: make(chan struct{}, 1)}
		rw.timer = time.AfterFunc(time.Hour, rw.expire)
		rw.timer.Stop()
	}
	rw.mu.Lock()
	rw.in, rw.w, rw.p, rw.cancel = in, w, p, cancel
	rw.mu.Unlock()
	in.watchMu.Lock()
	if in.live == nil {
		in.live = map[*responseWatch]struct{}{}
	}
	in.live[rw] = struct{}{}
	select {
	case <-in.closed:
		rw.timer.Reset(0) // closed meanwhile: Close did not see this watch
	default:
		rw.timer.Reset(in.s.responseTimeout)
	}
	in.watchMu.Unlock()
	return rw
}

func (rw *responseWatch) expire() {
	rw.mu.Lock()
	in, w, p, cancel := rw.in, rw.w, rw.p, rw.cancel
	rw.mu.Unlock()
	reason, msg := timedOut, "no outcome within responseTimeout"
	select {
	case <-in.closed:
		reason, msg = cutOff, "shutting down"
	default:
	}
	if p.abandon(reason) {
		cancel()
		in.releaseKey(p.replayKey)
		answerNow(w, msg)
	}
	rw.done <- struct{}{}
}

// stop ends the watch: once it returns, expire does not run, or has run.
// The watch leaves live first, under watchMu, so that Close never re-arms
// it once stop has stopped its timer.
func (rw *responseWatch) stop() {
	in := rw.in
	in.watchMu.Lock()
	delete(in.live, rw)
	in.watchMu.Unlock()
	if !rw.timer.Stop() {
		<-rw.done
	}
	rw.mu.Lock()
	rw.in, rw.w, rw.p, rw.cancel = nil, nil, nil, nil
	rw.mu.Unlock()
	watches.Put(rw)
}

// answerNow answers 503 with Retry-After while the request's handler still
// runs: complete (a Content-Length), flushed, and closing the connection,
// which stays busy until the handler returns.
func answerNow(w nethttp.ResponseWriter, msg string) {
	body := msg + "\n"
	h := w.Header()
	h.Set("Retry-After", retryAfter(time.Second))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Connection", "close")
	w.WriteHeader(nethttp.StatusServiceUnavailable)
	_, _ = io.WriteString(w, body)
	if f, ok := w.(nethttp.Flusher); ok {
		f.Flush()
	}
}

// Timers for responseTimeout are reused: one per request in flight. Since
// Go 1.23 a stopped timer's channel holds no stale tick, so Reset is safe.
var timers sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func putTimer(t *time.Timer) {
	t.Stop()
	timers.Put(t)
}

// respond writes a settled request's outcome.
func (in *input) respond(w nethttp.ResponseWriter, p *request) {
	switch {
	case p.replied && (p.acked || p.reply.Status < 200 || p.reply.Status > 299):
		writeReply(w, p.reply)
	case p.acked:
		w.WriteHeader(nethttp.StatusNoContent)
	default:
		unavailable(w, p.delay, "the function failed; send the request again later")
	}
}

// unavailable answers 503 with Retry-After, which senders take as "send it
// again, then".
func unavailable(w nethttp.ResponseWriter, delay time.Duration, msg string) {
	w.Header().Set("Retry-After", retryAfter(delay))
	nethttp.Error(w, msg, nethttp.StatusServiceUnavailable)
}

// skipReplyHeaders are headers a reply's metadata may not set: the server
// owns the framing.
var skipReplyHeaders = []string{"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer"}

func writeReply(w nethttp.ResponseWriter, rep bindings.Reply) {
	h := w.Header()
	for k, v := range rep.Metadata {
		ck := nethttp.CanonicalHeaderKey(k)
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n") || slices.Contains(skipReplyHeaders, ck) {
			continue
		}
		h.Set(ck, v)
	}
	if rep.ContentType != "" {
		h.Set("Content-Type", rep.ContentType)
	}
	status := rep.Status
	if status == 0 {
		status = nethttp.StatusOK
		if len(rep.Data) == 0 {
			status = nethttp.StatusNoContent
		}
	}
	w.WriteHeader(status)
	if status != nethttp.StatusNoContent && status != nethttp.StatusNotModified && len(rep.Data) > 0 {
		_, _ = w.Write(rep.Data)
	}
}

// readBody reads the whole body within maxRequestBodySize and readTimeout.
// It returns the status to answer with when it fails.
func (in *input) readBody(w nethttp.ResponseWriter, r *nethttp.Request) ([]byte, int, error) {
	if r.ContentLength > in.s.maxRequestBody {
		return nil, nethttp.StatusRequestEntityTooLarge, fmt.Errorf("body of %d bytes is larger than maxRequestBodySize (%d)", r.ContentLength, in.s.maxRequestBody)
	}
	// Not every ResponseWriter has deadlines (httptest's has not); the
	// runtime's server has.
	if setReadDeadline(w, time.Now().Add(in.s.readTimeout)) {
		// Clear it once the body is in: the server keeps reading the
		// connection in the background to see the sender hang up, and a
		// deadline passing then would cancel the request we hold open.
		defer setReadDeadline(w, time.Time{})
	}
	var body []byte
	var err error
	if r.ContentLength >= 0 {
		// The server already stops the body at its Content-Length, checked
		// against the limit above.
		body, err = bodyread.ReadAll(r.Body, int(r.ContentLength)+1, r.ContentLength+1) // +1: EOF is seen without growing
	} else {
		body, err = bodyread.ReadAll(nethttp.MaxBytesReader(w, r.Body, in.s.maxRequestBody), 512, in.s.maxRequestBody+1)
	}
	var tooBig *nethttp.MaxBytesError
	var ne net.Error
	switch {
	case err == nil:
		return body, 0, nil
	case errors.As(err, &tooBig):
		return nil, nethttp.StatusRequestEntityTooLarge, fmt.Errorf("body larger than maxRequestBodySize (%d bytes)", in.s.maxRequestBody)
	case errors.As(err, &ne) && ne.Timeout():
		return nil, nethttp.StatusRequestTimeout, fmt.Errorf("body not read within readTimeout (%s)", in.s.readTimeout)
	}
	return nil, nethttp.StatusBadRequest, fmt.Errorf("read body: %w", err)
}

// setReadDeadline sets the connection's read deadline through the
// ResponseWriter, reporting whether it could.
func setReadDeadline(w nethttp.ResponseWriter, t time.Time) bool {
	// The server's own writer has the method: spare ResponseController's
	// allocation on every request.
	if d, ok := w.(interface{ SetReadDeadline(time.Time) error }); ok {
		return d.SetReadDeadline(t) == nil
	}
	return nethttp.NewResponseController(w).SetReadDeadline(t) == nil
}

// message builds the message of a request: the body as data, the headers,
// query and request line as metadata, or, for a CloudEvent, its data and
// attributes.
func (in *input) message(r *nethttp.Request, body []byte, now time.Time) (*bindings.Message, error) {
	// Sized for the headers and the request-line keys; small requests
	// stay within one map group of 8.
	md := make(map[string]string, len(r.Header)+4)
	for k, vs := range r.Header {
		lk := lowerHeader(k)
		if strings.HasPrefix(lk, "http.") {
			continue
		}
		if len(vs) == 1 {
			md[lk] = vs[0]
		} else {
			md[lk] = strings.Join(vs, ", ")
		}
	}
	md["host"] = r.Host
	md[MetaMethod] = r.Method
	md[MetaRequestPath] = r.URL.Path
	md[MetaRemoteAddr] = r.RemoteAddr
	if r.URL.RawQuery != "" {
		for k, vs := range r.URL.Query() {
			md[MetaQueryPrefix+k] = strings.Join(vs, ",")
		}
	}
	m := &bindings.Message{Data: body, ContentType: r.Header.Get("Content-Type"), Metadata: md, DeliveryCount: 1, Time: now}
	if isCloudEvent(r.Header) {
		if err := fromCloudEvent(r, body, m); err != nil {
			return nil, err
		}
	}
	if m.ID == "" {
		m.ID = nextID()
	}
	return m, nil
}

// Message ids: a random prefix per process and a counter, unique across
// processes and runs without a random read per request.
var (
	idPrefix  = rand.Text()[:12] + "-"
	idCounter atomic.Uint64
)

func nextID() string { return idPrefix + strconv.FormatUint(idCounter.Add(1), 36) }

// isCloudEvent: structured mode (a CloudEvents content type, not the batch
// one) or binary mode (a ce-specversion header).
func isCloudEvent(h nethttp.Header) bool {
	if h.Get("Ce-Specversion") != "" {
		return true
	}
	ct := strings.ToLower(h.Get("Content-Type"))
	return strings.HasPrefix(ct, "application/cloudevents+")
}

// fromCloudEvent fills m from the CloudEvent the request carries.
func fromCloudEvent(r *nethttp.Request, body []byte, m *bindings.Message) error {
	ev, err := cebinding.ToEvent(r.Context(), cehttp.NewMessage(r.Header, io.NopCloser(bytes.NewReader(body))))
	if err == nil {
		err = ev.Validate()
	}
	if err != nil {
		return fmt.Errorf("not a valid CloudEvent: %w", err)
	}
	// In binary mode, header values are percent-encoded (CloudEvents HTTP
	// binding, 3.1.3.2); the SDK leaves them as sent.
	binary := r.Header.Get("Ce-Specversion") != ""
	decode := func(v string) string {
		if binary && strings.Contains(v, "%") {
			if d, err := url.PathUnescape(v); err == nil {
				return d
			}
		}
		return v
	}
	// Binary mode's ce-* headers are replaced by the decoded attributes, so
	// that both modes give the same keys and values.
	for k := range m.Metadata {
		if strings.HasPrefix(k, MetaCEPrefix) {
			delete(m.Metadata, k)
		}
	}
	set := func(attr, v string) {
		if v != "" {
			m.Metadata[MetaCEPrefix+attr] = decode(v)
		}
	}
	set("specversion", ev.SpecVersion())
	set("id", ev.ID())
	set("source", ev.Source())
	set("type", ev.Type())
	set("subject", ev.Subject())
	set("dataschema", ev.DataSchema())
	if t := ev.Time(); !t.IsZero() {
		set("time", t.UTC().Format(time.RFC3339Nano))
		m.Time = t
	}
	for name, v := range ev.Extensions() {
		if s, err := types.Format(v); err == nil {
			set(name, s)
		}
	}
	m.ID = decode(ev.ID())
	m.Data = ev.Data()
	m.ContentType = ev.DataContentType()
	return nil
}

// commonHeaders spares the allocation of lower-casing the usual names.
var commonHeaders = func() map[string]string {
	names := []string{"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control", "Connection",
		"Content-Length", "Content-Type", "Cookie", "Origin", "Referer", "User-Agent", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id", "Traceparent", "Tracestate",
		"X-Twilio-Signature", "X-Hub-Signature-256", "X-Github-Event", "X-Github-Delivery", "Stripe-Signature",
		"X-Slack-Signature", "X-Slack-Request-Timestamp", "Ce-Id", "Ce-Source", "Ce-Type", "Ce-Specversion", "Ce-Time", "Ce-Subject"}
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = strings.ToLower(n)
	}
	return m
}()

func lowerHeader(k string) string {
	if l, ok := commonHeaders[k]; ok {
		return l
	}
	return strings.ToLower(k)
}
