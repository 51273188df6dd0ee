// Package fault checks the MQTT input end to end under faults (see
// fault_test.go; it runs without the race detector).
package fault
