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
