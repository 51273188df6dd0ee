package servertest

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards loopback TCP connections to a server, so that a test can
// take the server away from its clients without stopping it (emulators that
// keep everything in memory lose it all when stopped): Cut drops the
// connections open now, which the clients see as the server going away;
// Outage also refuses new ones for a while, as a server that is down does.
type Proxy struct {
	target string
	addr   string

	mu     sync.Mutex
	ln     net.Listener // nil during an outage
	conns  map[net.Conn]bool
	closed bool
}

// StartProxy listens on a free loopback port and forwards to target.
func StartProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's host:port, for the clients.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // an outage began meanwhile
				p.mu.Unlock()
				c.Close()
				up.Close()
				continue
			}
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go p.pipe(up, c)
			go p.pipe(c, up)
		}
	}()
}

func (p *Proxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Cut drops every connection open now; new ones are forwarded.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked()
}

func (p *Proxy) cutLocked() {
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Outage drops every connection and refuses new ones for d (Down, then
// Up); it returns once the proxy listens again.
func (p *Proxy) Outage(d time.Duration) error {
	if err := p.Down(); err != nil {
		return err
	}
	time.Sleep(d)
	return p.Up()
}

// Down drops every connection and stops listening: clients are refused,
// as by a server that is down.
func (p *Proxy) Down() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil || p.closed {
		return errors.New("servertest: proxy closed or already down")
	}
	p.ln.Close()
	p.ln = nil
	p.cutLocked()
	return nil
}

// Up listens again, on the same address, after Down.
func (p *Proxy) Up() error {
	var ln net.Listener
	var err error
	for range 50 { // the port is free unless something took it meanwhile
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.ln != nil {
		ln.Close()
		return errors.New("servertest: proxy closed or not down")
	}
	p.serve(ln)
	return nil
}

// Close stops forwarding and drops every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
	}
	p.cutLocked()
}
