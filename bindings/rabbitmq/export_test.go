package rabbitmq

import "net"

// SetDialer makes bindings opened from now on dial with f, until restore.
func SetDialer(f func(network, addr string) (net.Conn, error)) (restore func()) {
	old := dialer
	dialer = f
	return func() { dialer = old }
}

// FlushAcks sends the acks in's current consumer has queued, then makes a
// synchronous call on its channel, which fails when the broker closed the
// channel (an ack of an unknown delivery tag does). No ack may follow.
func FlushAcks(in any, queue string) error {
	c := in.(*input).cur.Load()
	c.acks.close()
	_, err := c.ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	return err
}
