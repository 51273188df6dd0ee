package rabbitmq

import "net"

// SetDialer makes bindings opened from now on dial with f, until restore.
func SetDialer(f func(network, addr string) (net.Conn, error)) (restore func()) {
	old := dialer
	dialer = f
	return func() { dialer = old }
}
