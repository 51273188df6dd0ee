// Package wake lets goroutines wait for the next change of some state that a
// mutex guards, without a sync.Cond (which cannot be selected on together
// with a context or a timer).
//
//	mu.Lock()
//	for !ready() {
//		ch := s.Wait()
//		mu.Unlock()
//		select {
//		case <-ch:
//		case <-ctx.Done():
//			return ctx.Err()
//		}
//		mu.Lock()
//	}
package wake

// Signal is a one-shot broadcast, renewed at each Fire. Its methods must be
// called with the state's mutex held; the zero value is ready to use.
type Signal struct{ ch chan struct{} }

// Wait returns a channel closed at the next Fire.
func (s *Signal) Wait() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Fire wakes everyone waiting; it costs nothing when nobody waits.
func (s *Signal) Fire() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
