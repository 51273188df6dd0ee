package bindings

import "time"

// Message is one input message as a driver delivers it. The runtime reads every
// field but Handle, which belongs to the driver.
type Message struct {
	// ID is the broker's message id (or one the driver made up, stable across
	// redeliveries where the broker allows).
	ID string
	// Data is the payload, byte for byte as the broker holds it.
	Data []byte
	// ContentType is the payload's media type, "" when the broker has none.
	ContentType string
	// Metadata holds the broker's attributes or headers and driver-specific
	// delivery facts (partition, offset, subject...). Drivers document their keys.
	// Read it with ReadMetadata: a driver may leave it nil and build it on first use.
	Metadata map[string]string
	// DeliveryCount is 1 on the first delivery and grows by one each time the
	// message is redelivered.
	DeliveryCount int
	// Key is the ordering key (partition, message group, stream key...); "" when
	// the message has none. The runtime handles messages with the same Key one
	// at a time when the trigger is ordered.
	Key string
	// Time is when the broker accepted the message; zero when unknown.
	Time time.Time
	// Handle is the driver's own acknowledgement state for this message.
	Handle any
}

// ReadMetadata returns m's metadata: Metadata, or, when the driver left that
// nil to build it on first use, what m's Handle builds (see LazyMetadata).
// Read a message's metadata with it, never with the field alone.
func (m *Message) ReadMetadata() map[string]string {
	if m.Metadata != nil {
		return m.Metadata
	}
	if l, ok := m.Handle.(LazyMetadata); ok {
		return l.Metadata()
	}
	return nil
}

// Meta returns m.ReadMetadata().
//
// Deprecated: use ReadMetadata; Meta was easy to take for the Metadata field,
// which a driver may leave nil.
func (m *Message) Meta() map[string]string { return m.ReadMetadata() }

// LazyMetadata is implemented by the Handle of a driver that builds a
// message's metadata only when something reads it: for a broker delivering
// hundreds of thousands of messages a second to handlers that take the
// payload alone, the map is most of the cost of a message. Metadata builds the
// map once and returns that same map on every call, from any goroutine.
type LazyMetadata interface {
	Metadata() map[string]string
}
