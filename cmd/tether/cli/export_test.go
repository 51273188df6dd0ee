package cli

// SendWhenReady is tether run's --send, for tests of the race that a port
// check before building cannot close.
var SendWhenReady = sendWhenReady
