package kafka

import "time"

// SetRevokeGrace changes how long a revocation waits for records in flight,
// for the tests of late acks; it returns a function that restores it.
func SetRevokeGrace(d time.Duration) (restore func()) {
	old := revokeGrace
	revokeGrace = d
	return func() { revokeGrace = old }
}
