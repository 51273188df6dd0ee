package bindings_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// echo is a minimal output driver for the contract's own tests.
type echo struct{ err error }

func (e *echo) Invoke(_ context.Context, r *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if e.err != nil {
		return nil, e.err
	}
	return &bindings.InvokeResponse{Data: r.Data}, nil
}
func (e *echo) Close() error { return nil }

var errDriver = errors.New("driver says no")

func init() {
	bindings.Register(bindings.Type{
		Name: "test.echo", Aliases: []string{"test.echo-alias"}, Version: "v1",
		Directions: bindings.DirOutput,
		Operations: []bindings.Operation{bindings.OpCreate},
		Metadata: []bindings.MetadataKey{
			{Name: "url", Required: true, Description: "where"},
			{Name: "retries", Kind: bindings.KindInt, Default: "3"},
			{Name: "mode", Kind: bindings.KindEnum, Enum: []string{"fast", "safe"}, Default: "safe"},
			{Name: "wait", Kind: bindings.KindDuration},
			{Name: "fail", Kind: bindings.KindBool},
		},
		NewOutput: func(_ context.Context, cfg bindings.Config) (bindings.Output, error) {
			if cfg.Values().Bool("fail") {
				return &echo{err: errDriver}, nil
			}
			return &echo{}, nil
		},
	})
}

func TestOpenValidatesEveryKey(t *testing.T) {
	_, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "c", Type: "test.echo",
		Metadata: map[string]string{"URl": "x", "retries": "many", "mode": "fsat", "wiat": "1s"}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`metadata "retries": "many" is not an integer`,
		`metadata "mode": "fsat" is not one of fast, safe; did you mean "fast"?`,
		`metadata "wiat": unknown key for test.echo; did you mean "wait"?`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), `missing required metadata "url"`) {
		t.Error("URl (any case) should satisfy url, as in Dapr")
	}
	_, _, err = bindings.OpenOutput(context.Background(), bindings.Config{Name: "c", Type: "test.echo"})
	if err == nil || !strings.Contains(err.Error(), `missing required metadata "url"`) {
		t.Errorf("missing key: %v", err)
	}
}

func TestUnknownTypeSuggests(t *testing.T) {
	_, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "c", Type: "test.ecko"})
	if err == nil || !strings.Contains(err.Error(), `unknown binding type "test.ecko"; did you mean "test.echo"?`) {
		t.Errorf("err = %v", err)
	}
	_, _, err = bindings.OpenInput(context.Background(), bindings.Config{Name: "c", Type: "test.echo", Metadata: map[string]string{"url": "x"}})
	if err == nil || !strings.Contains(err.Error(), "no input direction") {
		t.Errorf("input of an output-only type: %v", err)
	}
}

func TestOutputChecksOperationsAndWrapsOnce(t *testing.T) {
	ctx := context.Background()
	out, typ, err := bindings.OpenOutput(ctx, bindings.Config{Name: "c", Type: "test.echo-alias", Metadata: map[string]string{"url": "x", "fail": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if typ.Name != "test.echo" {
		t.Errorf("alias resolved to %q", typ.Name)
	}
	_, err = out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpDelete})
	if !errors.Is(err, bindings.ErrUnsupportedOperation) || !strings.Contains(err.Error(), "supported: create") {
		t.Errorf("delete: %v", err)
	}
	_, err = out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate})
	var be *bindings.Error
	if !errors.As(err, &be) || be.Binding != "c" || !errors.Is(err, errDriver) {
		t.Fatalf("driver error %v: want *bindings.Error for c wrapping the driver's", err)
	}
	if strings.Count(err.Error(), `binding "c"`) != 1 {
		t.Errorf("wrapped more than once: %v", err)
	}
	if _, ok := bindings.Driver(out).(*echo); !ok {
		t.Errorf("Driver(out) = %T, want the driver's *echo", bindings.Driver(out))
	}
}

func TestDeliveryDefaultsAndRanges(t *testing.T) {
	d := bindings.DefaultDeliveryPolicy()
	if d.MaxConcurrency != 16 || d.MaxAttempts != 5 || d.HandlerTimeout != 5*time.Minute || d.DeadLetter != "" {
		t.Errorf("defaults %+v", d)
	}
	for _, tc := range []struct{ key, value, want string }{
		{"maxConcurrency", "0", "at least 1"},
		{"jitter", "2", "between 0 and 1"},
		{"maxInterval", "1ms", "shorter than initialInterval"},
		{"handlerTimeout", "soon", "not a duration"},
	} {
		_, err := bindings.ParseDeliveryPolicy(map[string]string{tc.key: tc.value})
		var ke *bindings.KeyError
		if !errors.As(err, &ke) || ke.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v, want a KeyError on %s saying %q", tc.key, tc.value, err, tc.key, tc.want)
		}
	}
	d.InitialInterval, d.MaxInterval, d.Multiplier = time.Second, 10*time.Second, 2
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 9: 10 * time.Second} {
		if got := d.Backoff(attempt); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", attempt, got, want)
		}
	}
}

func TestParseDurationAcceptsSeconds(t *testing.T) {
	for in, want := range map[string]time.Duration{"30": 30 * time.Second, "1.5": 1500 * time.Millisecond, "250ms": 250 * time.Millisecond} {
		if got, err := bindings.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v", in, got, err)
		}
	}
	if _, err := bindings.ParseDuration("later"); err == nil {
		t.Error("later parsed")
	}
}

func TestParseDirection(t *testing.T) {
	if d, err := bindings.ParseDirection("input, output"); err != nil || d != bindings.DirBoth {
		t.Errorf("both: %v %v", d, err)
	}
	if _, err := bindings.ParseDirection("sideways"); err == nil {
		t.Error("sideways parsed")
	}
}

type lazyHandle struct{ md map[string]string }

func (h *lazyHandle) Metadata() map[string]string { return h.md }

func TestMetaReadsTheFieldOrTheHandle(t *testing.T) {
	eager := &bindings.Message{Metadata: map[string]string{"a": "1"}, Handle: &lazyHandle{map[string]string{"a": "2"}}}
	lazy := &bindings.Message{Handle: &lazyHandle{map[string]string{"a": "2"}}}
	none := &bindings.Message{Handle: 42}
	if eager.ReadMetadata()["a"] != "1" || lazy.ReadMetadata()["a"] != "2" || none.ReadMetadata() != nil {
		t.Errorf("ReadMetadata: eager %v, lazy %v, none %v", eager.ReadMetadata(), lazy.ReadMetadata(), none.ReadMetadata())
	}
}

// A type's DeliveryDefaults must name delivery keys, with valid values:
// Register refuses a typo at init, not at the first component.
func TestRegisterChecksDeliveryDefaults(t *testing.T) {
	newInput := func(context.Context, bindings.Config) (bindings.Input, error) { return nil, errDriver }
	for _, defaults := range []map[string]string{{"batchSise": "100"}, {"batchSize": "many"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register accepted DeliveryDefaults %v", defaults)
				}
			}()
			bindings.Register(bindings.Type{Name: "test.defaults", Directions: bindings.DirInput, NewInput: newInput, DeliveryDefaults: defaults})
		}()
	}
}
