package mqtt

import (
	"context"
	"fmt"

	"github.com/tetherfn/tether/bindings"
)

// Client is the typed client of a bindings.mqtt3 output, for a function that
// publishes to several topics or sets QoS and retain per message:
//
//	type Outputs struct {
//		Devices *mqtt.Client `binding:"devices"`
//	}
//
//	err := out.Devices.Publish(ctx, "devices/42/commands", 1, false, data)
type Client struct {
	name string
	out  *output
}

var _ bindings.Binder = (*Client)(nil)

// BindOutput implements bindings.Binder: it accepts only a component of
// type TypeName.
func (c *Client) BindOutput(b bindings.OutputBinding) error {
	out, err := bindings.RequireDriver[*output](b, TypeName)
	if err != nil {
		return err
	}
	c.name, c.out = b.Name, out
	return nil
}

// Publish sends data to topic ("" means the component's) with qos 0, 1 or 2
// and the retain flag. With qos 1 or 2 it returns once the broker has
// acknowledged the message.
func (c *Client) Publish(ctx context.Context, topic string, qos byte, retain bool, data []byte) error {
	if c.out == nil {
		return fmt.Errorf("mqtt.Client is not bound to a binding (is the Outputs field tagged, and was go generate run?)")
	}
	if topic == "" {
		topic = c.out.topic
	}
	if err := c.out.publish(ctx, topic, qos, retain, data); err != nil {
		return &bindings.Error{Binding: c.name, Type: TypeName, Op: "publish", Err: err}
	}
	return nil
}
