package trigger

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings"
)

func TestRecoverTurnsPanicIntoError(t *testing.T) {
	h := Recover()(func(context.Context, *bindings.Message) (Result, error) { panic("kaput") })
	_, err := h(deliveryCtx(1, &bindings.Message{ID: "1"}), &bindings.Message{ID: "1"})
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *PanicError", err)
	}
	if pe.Value != "kaput" || !strings.Contains(string(pe.Stack), "recover_test.go") {
		t.Errorf("panic error = %v with stack %q..., want value kaput and a stack through this file", pe.Value, pe.Stack[:min(80, len(pe.Stack))])
	}
}

func TestRecoverPassesResults(t *testing.T) {
	res, err := Recover()(succeed)(context.Background(), &bindings.Message{})
	if err != nil || string(res.Data) != "ok" {
		t.Fatalf("got %q, %v", res.Data, err)
	}
	_, err = Recover()(failWith(errBoom))(context.Background(), &bindings.Message{})
	if !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want boom", err)
	}
}
