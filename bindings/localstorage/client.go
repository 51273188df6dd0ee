package localstorage

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tetherfn/tether/bindings"
)

// Client is the typed client of a bindings.localstorage output, for a
// function's Outputs struct:
//
//	type Outputs struct {
//		Files *localstorage.Client `binding:"files"`
//	}
//
//	data, err := out.Files.Get(ctx, "invoices/42.pdf")
//
// Every method runs one of the binding's operations, so errors are the
// binding's (*bindings.Error; bindings.ErrNotFound for a missing file,
// ErrBadName for a name outside the root).
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

func (c *Client) invoke(ctx context.Context, op bindings.Operation, data []byte, md map[string]string) (*bindings.InvokeResponse, error) {
	if c.b.Output == nil {
		return nil, fmt.Errorf("*localstorage.Client is not bound to a binding (is the Outputs field tagged, and was go generate run?)")
	}
	resp, err := c.b.Invoke(ctx, &bindings.InvokeRequest{Operation: op, Data: data, Metadata: md})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		resp = &bindings.InvokeResponse{}
	}
	return resp, nil
}

// Create writes data to the file name (relative to the root; "" for a new
// UUID), replacing it if it exists, and returns the name written.
func (c *Client) Create(ctx context.Context, name string, data []byte) (string, error) {
	md := map[string]string{}
	if name != "" {
		md[MetaFileName] = name
	}
	resp, err := c.invoke(ctx, bindings.OpCreate, data, md)
	if err != nil {
		return "", err
	}
	return resp.Metadata[MetaFileName], nil
}

// Get returns the content of the file name.
func (c *Client) Get(ctx context.Context, name string) ([]byte, error) {
	resp, err := c.invoke(ctx, bindings.OpGet, nil, map[string]string{MetaFileName: name})
	if err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// List returns the names of the files below dir ("" for the whole root),
// relative to the root, in lexical order.
func (c *Client) List(ctx context.Context, dir string) ([]string, error) {
	md := map[string]string{}
	if dir != "" {
		md[MetaFileName] = dir
	}
	resp, err := c.invoke(ctx, bindings.OpList, nil, md)
	if err != nil {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal(resp.Data, &names); err != nil {
		return nil, fmt.Errorf("list %q: answer is not a JSON array of names: %w", dir, err)
	}
	return names, nil
}

// Delete removes the file name.
func (c *Client) Delete(ctx context.Context, name string) error {
	_, err := c.invoke(ctx, bindings.OpDelete, nil, map[string]string{MetaFileName: name})
	return err
}
