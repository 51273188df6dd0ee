package http

import (
	"context"
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"strconv"

	"github.com/tetherfn/tether/bindings"
)

// Client is the typed client of a bindings.http output, for a function's
// Outputs struct:
//
//	type Outputs struct {
//		API *http.Client `binding:"billing-api"`
//	}
//
//	resp, err := out.API.Get(ctx, "/invoices/42")
//	var inv Invoice
//	err = resp.JSON(&inv)
//
// Paths are appended to the component's url. Errors are the binding's
// (*bindings.Error, around a *StatusError for a status outside 2xx unless
// the component or the call allows any status).
type Client struct {
	b bindings.OutputBinding
}

// BindOutput implements bindings.Binder: it accepts only a component of
// type TypeName.
func (c *Client) BindOutput(b bindings.OutputBinding) error {
	if err := b.Require(TypeName); err != nil {
		return err
	}
	c.b = b
	return nil
}

// Binding returns the component name the client is bound to.
func (c *Client) Binding() string { return c.b.Name }

// Response is an answer.
type Response struct {
	StatusCode int
	// Header is the response's header as it came, a header sent more than
	// once with each of its values.
	Header nethttp.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %d response as JSON: %w", r.StatusCode, err)
	}
	return nil
}

// Option adjusts one call.
type Option func(*bindings.InvokeRequest)

// Header sets a request header for one call.
func Header(name, value string) Option {
	return func(r *bindings.InvokeRequest) { r.Metadata[name] = value }
}

// ContentType sets the body's content type for one call (default:
// application/json; charset=utf-8, as in Dapr).
func ContentType(ct string) Option {
	return func(r *bindings.InvokeRequest) { r.ContentType = ct }
}

// AnyStatus makes a status outside 2xx an answer rather than an error, for
// one call.
func AnyStatus() Option {
	return func(r *bindings.InvokeRequest) { r.Metadata[MetaErrorIfNot2XX] = "false" }
}

// Do runs the operation op (bindings.OpGet, OpPost... : the HTTP verb) on
// path, with body for the verbs that carry one.
func (c *Client) Do(ctx context.Context, op bindings.Operation, path string, body []byte, opts ...Option) (*Response, error) {
	if c.b.Output == nil {
		return nil, fmt.Errorf("*http.Client is not bound to a binding (is the Outputs field tagged, and was go generate run?)")
	}
	req := &bindings.InvokeRequest{Operation: op, Data: body, Metadata: map[string]string{}}
	if path != "" {
		req.Metadata[MetaPath] = path
	}
	for _, opt := range opts {
		opt(req)
	}
	// The driver fills a with the response's status and header as they
	// came, rather than joining each header into metadata for this to
	// split back (17 allocations a call for a typical answer).
	a := &answer{}
	resp, err := c.b.Invoke(context.WithValue(ctx, answerKey{}, a), req)
	if err != nil {
		return nil, err
	}
	out := &Response{StatusCode: a.status, Header: a.header}
	if resp != nil {
		out.Body = resp.Data
	}
	if a.header != nil {
		return out, nil
	}
	// An output that does not know the key (a test double): from metadata.
	out.Header = nethttp.Header{}
	if resp == nil {
		return out, nil
	}
	for k, v := range resp.Metadata {
		switch k {
		case MetaStatusCode:
			out.StatusCode, _ = strconv.Atoi(v)
		case MetaStatus:
		default:
			out.Header.Set(k, v)
		}
	}
	return out, nil
}

// Get sends GET path.
func (c *Client) Get(ctx context.Context, path string, opts ...Option) (*Response, error) {
	return c.Do(ctx, bindings.OpGet, path, nil, opts...)
}

// Head sends HEAD path.
func (c *Client) Head(ctx context.Context, path string, opts ...Option) (*Response, error) {
	return c.Do(ctx, OpHead, path, nil, opts...)
}

// Delete sends DELETE path.
func (c *Client) Delete(ctx context.Context, path string, opts ...Option) (*Response, error) {
	return c.Do(ctx, bindings.OpDelete, path, nil, opts...)
}

// Post sends POST path with body.
func (c *Client) Post(ctx context.Context, path string, body []byte, opts ...Option) (*Response, error) {
	return c.Do(ctx, OpPost, path, body, opts...)
}

// Put sends PUT path with body.
func (c *Client) Put(ctx context.Context, path string, body []byte, opts ...Option) (*Response, error) {
	return c.Do(ctx, OpPut, path, body, opts...)
}

// Patch sends PATCH path with body.
func (c *Client) Patch(ctx context.Context, path string, body []byte, opts ...Option) (*Response, error) {
	return c.Do(ctx, OpPatch, path, body, opts...)
}

// PostJSON sends POST path with v encoded as JSON.
func (c *Client) PostJSON(ctx context.Context, path string, v any, opts ...Option) (*Response, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode request body: %w", err)
	}
	return c.Do(ctx, OpPost, path, body, append([]Option{ContentType("application/json")}, opts...)...)
}
