package wake_test

import (
	"testing"

	"github.com/tetherfn/tether/internal/wake"
)

func TestFireWakesEveryWaiterOnce(t *testing.T) {
	var s wake.Signal
	s.Fire() // nobody waits: nothing to do, and no channel made
	a, b := s.Wait(), s.Wait()
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
			t.Fatal("closed before Fire")
		default:
		}
	}
	s.Fire()
	<-a
	<-b
	select {
	case <-s.Wait():
		t.Fatal("a Wait after Fire returned a closed channel")
	default:
	}
}
