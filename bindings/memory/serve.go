package memory

import (
	"context"
	"errors"
	"net"
	"net/rpc"
	"sync"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory/internal/wire"
)

// BrokerEnv is the environment variable that points the memory components
// of a process at a broker process (see Serve) instead of the process's own
// queues: TETHER_MEMORY_BROKER=127.0.0.1:4500. tether dev sets it for every
// function it runs, so that one function's output is another's trigger.
const BrokerEnv = "TETHER_MEMORY_BROKER"

// Serve hosts this process's queues for the memory components of other
// processes started with BrokerEnv set to ln's address, until ctx is done.
// Each connection is one client process: when it ends (the process exited or
// was killed), the messages its inputs held in flight go back to their queue
// at once, as Close would have done.
func Serve(ctx context.Context, ln net.Listener) error {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		mu.Lock()
		conns[conn] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &session{inputs: map[uint64]*sessionInput{}}
			srv := rpc.NewServer()
			if err := srv.RegisterName(wire.Service, s); err != nil {
				panic(err) // the method set is fixed: a programming error
			}
			srv.ServeConn(conn)
			s.close()
			mu.Lock()
			delete(conns, conn)
			mu.Unlock()
		}()
	}
}

// session is the broker's side of one client connection.
type session struct {
	mu     sync.Mutex
	next   uint64
	inputs map[uint64]*sessionInput
}

type sessionInput struct {
	in *input

	mu        sync.Mutex
	next      uint64
	handles   map[uint64]*bindings.Message
	calls     map[uint64]context.CancelFunc
	cancelled map[uint64]bool // Cancel came before its Receive
}

func status(err error) wire.Status {
	if err == nil {
		return wire.Status{}
	}
	s := wire.Status{Error: err.Error()}
	switch {
	case errors.Is(err, bindings.ErrClosed):
		s.Code = wire.CodeClosed
	case errors.Is(err, ErrSettled):
		s.Code = wire.CodeSettled
	case errors.Is(err, ErrFull):
		s.Code = wire.CodeFull
	case errors.Is(err, bindings.ErrUnsupportedOperation):
		s.Code = wire.CodeUnsupported
	}
	return s
}

func (s *session) input(id uint64) (*sessionInput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	si := s.inputs[id]
	if si == nil {
		return nil, bindings.ErrClosed
	}
	return si, nil
}

func (s *session) Open(args wire.OpenArgs, reply *wire.OpenReply) error {
	in, err := newInput(bindings.Config{Name: args.Queue, Metadata: map[string]string{"queue": args.Queue}})
	if err != nil {
		reply.Status = status(err)
		return nil
	}
	s.mu.Lock()
	if s.inputs == nil { // the connection ended meanwhile
		s.mu.Unlock()
		in.Close()
		reply.Status = status(bindings.ErrClosed)
		return nil
	}
	s.next++
	reply.Input = s.next
	s.inputs[s.next] = &sessionInput{in: in, handles: map[uint64]*bindings.Message{},
		calls: map[uint64]context.CancelFunc{}, cancelled: map[uint64]bool{}}
	s.mu.Unlock()
	return nil
}

func (s *session) Receive(args wire.ReceiveArgs, reply *wire.ReceiveReply) error {
	si, err := s.input(args.Input)
	if err != nil {
		reply.Status = status(err)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	si.mu.Lock()
	if si.cancelled[args.Call] {
		delete(si.cancelled, args.Call)
		si.mu.Unlock()
		reply.Status = status(context.Canceled)
		return nil
	}
	si.calls[args.Call] = cancel
	si.mu.Unlock()
	msgs, err := si.in.Receive(ctx, args.Limit)
	si.mu.Lock()
	defer si.mu.Unlock()
	delete(si.calls, args.Call)
	if err != nil {
		reply.Status = status(err)
		return nil
	}
	reply.Messages = make([]wire.Message, len(msgs))
	for i, m := range msgs {
		si.next++
		si.handles[si.next] = m
		reply.Messages[i] = wire.Message{
			ID: m.ID, Data: m.Data, ContentType: m.ContentType, Metadata: m.Metadata,
			DeliveryCount: m.DeliveryCount, Key: m.Key, Time: m.Time, Handle: si.next,
		}
	}
	return nil
}

func (s *session) Cancel(args wire.CancelArgs, reply *wire.Empty) error {
	si, err := s.input(args.Input)
	if err != nil {
		return nil
	}
	si.mu.Lock()
	defer si.mu.Unlock()
	if cancel := si.calls[args.Call]; cancel != nil {
		cancel()
	} else {
		si.cancelled[args.Call] = true
	}
	return nil
}

func (s *session) Settle(args wire.SettleArgs, reply *wire.Empty) error {
	si, err := s.input(args.Input)
	if err != nil {
		reply.Status = status(err)
		return nil
	}
	si.mu.Lock()
	m := si.handles[args.Handle]
	delete(si.handles, args.Handle)
	si.mu.Unlock()
	if m == nil {
		reply.Status = status(ErrSettled)
		return nil
	}
	if args.Nack {
		err = si.in.Nack(context.Background(), m, args.Delay)
	} else {
		err = si.in.Ack(context.Background(), m)
	}
	reply.Status = status(err)
	return nil
}

func (s *session) Close(args wire.CloseArgs, reply *wire.Empty) error {
	s.mu.Lock()
	si := s.inputs[args.Input]
	delete(s.inputs, args.Input)
	s.mu.Unlock()
	if si != nil {
		reply.Status = status(si.in.Close())
	}
	return nil
}

func (s *session) Invoke(args wire.InvokeArgs, reply *wire.InvokeReply) error {
	o := &output{q: lookup(args.Queue, true), maxLength: args.MaxLength}
	resp, err := o.Invoke(context.Background(), &bindings.InvokeRequest{
		Operation: bindings.Operation(args.Operation), Data: args.Data,
		ContentType: args.ContentType, Metadata: args.Metadata,
	})
	reply.Status = status(err)
	if resp != nil {
		reply.HasResponse = true
		reply.Data, reply.ContentType, reply.Metadata = resp.Data, resp.ContentType, resp.Metadata
	}
	return nil
}

// close ends the session: every input it opened is closed, which gives
// their messages in flight back to the queue.
func (s *session) close() {
	s.mu.Lock()
	inputs := s.inputs
	s.inputs = nil
	s.mu.Unlock()
	for _, si := range inputs {
		si.in.Close()
	}
}
