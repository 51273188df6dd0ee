package trigger_test

import "github.com/tetherfn/tether/bindings"

// test.memory-nodelay is the memory binding declared without DelayedNack, so
// that tests exercise the runtime's own delayed redelivery, which brokers
// without delayed nacks (RabbitMQ, MQTT, Redis streams) rely on.
func init() {
	mt, ok := bindings.Lookup("bindings.memory")
	if !ok {
		panic("bindings.memory not registered")
	}
	t := *mt
	t.Name, t.Aliases = "test.memory-nodelay", nil
	t.Capabilities.DelayedNack = false
	bindings.Register(t)
}
