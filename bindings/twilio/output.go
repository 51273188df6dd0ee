package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// maxAnswer bounds how much of an API answer is read.
const maxAnswer = 1 << 20

// APIError is an error answer of Twilio's API.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int `json:"status"`
	// Code is Twilio's error code (21211: invalid To number...), 0 when the
	// answer had none.
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if e.Code != 0 {
		return fmt.Sprintf("twilio: %d error %d: %s", e.StatusCode, e.Code, msg)
	}
	return fmt.Sprintf("twilio: %d: %s", e.StatusCode, msg)
}

type output struct {
	s      settings
	client *http.Client
	closed atomic.Bool
}

func newOutput(cfg bindings.Config) (*output, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	return &output{s: s, client: &http.Client{Timeout: cfg.Values().Duration("timeout")}}, nil
}

// Invoke sends one message; see docs/bindings/twilio.md.
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req == nil {
		return nil, errors.New("nil request")
	}
	if req.Operation != bindings.OpCreate {
		return nil, fmt.Errorf("%w %q", bindings.ErrUnsupportedOperation, req.Operation)
	}
	if o.closed.Load() {
		return nil, bindings.ErrClosed
	}
	to := o.s.to
	if v := strings.TrimSpace(req.Metadata[MetaToNumber]); v != "" {
		to = v
	}
	if to == "" {
		return nil, functions.Permanent(errors.New(`no recipient: set the request's "toNumber" metadata or the component's toNumber`))
	}
	if !utf8.Valid(req.Data) {
		return nil, functions.Permanent(errors.New("the message body is not UTF-8 text"))
	}
	form := url.Values{"To": {to}, "From": {o.s.from}, "Body": {string(req.Data)}}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, o.s.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	hreq.SetBasicAuth(o.s.accountSid, o.s.authToken)
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hreq.Header.Set("Accept", "application/json")
	resp, err := o.client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("send message: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("send message: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, apiError(resp, body)
	}
	var msg struct{ Sid, Status string }
	if err := json.Unmarshal(body, &msg); err != nil || msg.Sid == "" {
		return nil, fmt.Errorf("send message: answer %d is not a message resource: %.200q", resp.StatusCode, body)
	}
	return &bindings.InvokeResponse{
		Data: bytes.Clone(body), ContentType: "application/json",
		Metadata: map[string]string{MetaSid: msg.Sid, MetaStatus: msg.Status},
	}, nil
}

// apiError builds the error of a failed call and says whether it is worth
// retrying.
func apiError(resp *http.Response, body []byte) error {
	e := &APIError{}
	if json.Unmarshal(body, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "..."
		}
	}
	e.StatusCode = resp.StatusCode
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			return functions.RetryAfter(time.Duration(s)*time.Second, e)
		}
		return e
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return e
	}
	return functions.Permanent(e)
}

func (o *output) Close() error {
	o.closed.Store(true)
	o.client.CloseIdleConnections()
	return nil
}
