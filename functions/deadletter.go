package functions

import "time"

// DeadLetter is the envelope the runtime sends to a trigger's dead-letter
// binding when a message failed every attempt or failed permanently. It is
// JSON (content type application/json), so a function triggered by the
// dead-letter queue can take a DeadLetter as its input type.
type DeadLetter struct {
	Function     string            `json:"function"`
	Binding      string            `json:"binding"`
	MessageID    string            `json:"messageId"`
	Error        string            `json:"error"`
	Permanent    bool              `json:"permanent"`
	Attempts     int               `json:"attempts"`
	FirstFailure time.Time         `json:"firstFailure"`
	LastFailure  time.Time         `json:"lastFailure"`
	ContentType  string            `json:"contentType,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	// Data is the original payload, byte for byte (base64 in the JSON).
	Data []byte `json:"data"`
}

// DeadLetterContentType is the content type of a dead-letter envelope; the
// metadata key DeadLetterMetadataKey is set to "true" on it as well, for
// bindings that carry headers.
const (
	DeadLetterContentType = "application/json"
	DeadLetterMetadataKey = "tether-deadletter"
)
