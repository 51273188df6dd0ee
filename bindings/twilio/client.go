package twilio

import (
	"context"
	"fmt"

	"github.com/tetherfn/tether/bindings"
)

// Client is the typed client of a bindings.twilio.sms output, for a
// function's Outputs struct:
//
//	type Outputs struct {
//		SMS *twilio.Client `binding:"sms"`
//	}
//
//	sid, err := out.SMS.Send(ctx, "+15558675310", "Your order has shipped")
//
// Errors are the binding's (*bindings.Error around an *APIError for Twilio's
// own).
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

// Send texts body to the number to ("" for the component's toNumber) and
// returns the message's sid.
func (c *Client) Send(ctx context.Context, to, body string) (string, error) {
	if c.b.Output == nil {
		return "", fmt.Errorf("*twilio.Client is not bound to a binding (is the Outputs field tagged, and was go generate run?)")
	}
	req := &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte(body), ContentType: "text/plain; charset=utf-8"}
	if to != "" {
		req.Metadata = map[string]string{MetaToNumber: to}
	}
	resp, err := c.b.Invoke(ctx, req)
	if err != nil {
		return "", err
	}
	if resp == nil {
		return "", nil
	}
	return resp.Metadata[MetaSid], nil
}
