package trigger

import (
	"net"
	"testing"
	"testing/synctest"
)

// chanListener is a net.Listener whose connections the test hands over.
type chanListener struct {
	conns  chan net.Conn
	closed chan struct{}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}
func (l *chanListener) Close() error   { close(l.closed); return nil }
func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }

// TestLimitListener: with n connections open, Accept waits until one
// closes; Close ends a waiting Accept.
func TestLimitListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := &chanListener{conns: make(chan net.Conn, 4), closed: make(chan struct{})}
		ln := limitListener(inner, 2)
		var open []net.Conn
		for range 3 {
			a, b := net.Pipe()
			defer b.Close()
			inner.conns <- a
		}
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, c)
		}
		third := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
			}
			third <- c
		}()
		synctest.Wait()
		select {
		case <-third:
			t.Fatal("a third connection was accepted while two were open")
		default:
		}
		open[0].Close()
		open[0].Close() // a second Close frees no second slot
		synctest.Wait()
		c := <-third
		a, b := net.Pipe()
		defer b.Close()
		inner.conns <- a
		fourth := make(chan error, 1)
		go func() { _, err := ln.Accept(); fourth <- err }()
		synctest.Wait()
		select {
		case <-fourth:
			t.Fatal("a fourth connection was accepted while two were open (a double Close freed a slot)")
		default:
		}
		ln.Close()
		if err := <-fourth; err == nil {
			t.Error("Accept after Close: no error")
		}
		c.Close()
		open[1].Close()
	})
}
