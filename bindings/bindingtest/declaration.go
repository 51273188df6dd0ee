package bindingtest

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings"
)

// testDeclaration checks the Type declaration that drives validation, docs
// and scaffolds.
func (s *suite) testDeclaration(t *testing.T, _ context.Context) {
	typ := s.typ
	if typ.Version == "" {
		t.Error("Type.Version is empty (want the component spec.version, e.g. v1)")
	}
	if typ.Summary == "" {
		t.Error("Type.Summary is empty")
	}
	if typ.Directions == 0 || !bindings.DirBoth.Has(typ.Directions) {
		t.Errorf("Type.Directions = %d, want input, output or both", typ.Directions)
	}
	reserved := map[string]string{}
	for _, k := range bindings.GenericKeys {
		reserved[strings.ToLower(k.Name)] = "a generic key"
	}
	for _, k := range bindings.DeliveryKeys {
		reserved[strings.ToLower(k.Name)] = "a delivery key"
	}
	seen := map[string]bool{}
	for _, k := range typ.Metadata {
		checkKey(t, "Type.Metadata", k)
		lower := strings.ToLower(k.Name)
		if seen[lower] {
			t.Errorf("Type.Metadata declares %q twice (keys match case-insensitively)", k.Name)
		}
		seen[lower] = true
		for _, a := range k.Aliases {
			if seen[strings.ToLower(a)] {
				t.Errorf("Type.Metadata: alias %q of %q is declared twice (keys match case-insensitively)", a, k.Name)
			}
			seen[strings.ToLower(a)] = true
		}
		if what, ok := reserved[lower]; ok {
			t.Errorf("Type.Metadata declares %q, which is %s every component has", k.Name, what)
		}
		if k.Direction != 0 && !typ.Directions.Has(k.Direction) {
			t.Errorf("metadata %q: Direction %s, but the type is %s", k.Name, k.Direction, typ.Directions)
		}
		if k.Required && k.Default != "" {
			t.Errorf("metadata %q: Required with a Default; one or the other", k.Name)
		}
		if k.Secret && k.Default != "" {
			t.Errorf("metadata %q: a Secret with a Default", k.Name)
		}
	}
	for _, k := range typ.InputMetadata {
		checkKey(t, "Type.InputMetadata", k)
	}
	if typ.Directions.Has(bindings.DirOutput) {
		if len(typ.Operations) == 0 {
			t.Error("the type has an output but declares no Operations")
		}
		ops := map[bindings.Operation]bool{}
		for _, op := range typ.Operations {
			if op == "" || ops[op] {
				t.Errorf("Type.Operations: empty or repeated operation %q", op)
			}
			ops[op] = true
		}
	} else if len(typ.Operations) > 0 {
		t.Errorf("Type.Operations %v on a type without output", typ.Operations)
	}
	if !typ.Directions.Has(bindings.DirInput) && (typ.Capabilities != bindings.Capabilities{}) {
		t.Errorf("Capabilities %+v on a type without input", typ.Capabilities)
	}
}

func checkKey(t *testing.T, where string, k bindings.MetadataKey) {
	t.Helper()
	if k.Name == "" {
		t.Errorf("%s: a key without a name", where)
		return
	}
	if k.Description == "" && k.Ignored == "" {
		t.Errorf("%s %q: no Description (nor Ignored reason)", where, k.Name)
	}
	if k.Kind == bindings.KindEnum && len(k.Enum) == 0 {
		t.Errorf("%s %q: KindEnum without Enum values", where, k.Name)
	}
	if k.Default != "" {
		if err := k.Check(k.Default); err != nil {
			t.Errorf("%s %q: Default %q is not valid: %v", where, k.Name, k.Default, err)
		}
	}
	if k.Example != "" {
		if err := k.Check(k.Example); err != nil {
			t.Errorf("%s %q: Example %q is not valid: %v", where, k.Name, k.Example, err)
		}
	}
}

// testInvalidMetadata checks that each invalid metadata fails at open, in
// every direction, and that a valid one opens.
func (s *suite) testInvalidMetadata(t *testing.T, ctx context.Context) {
	invalid := append([]map[string]string{{"tetherConformanceUnknownKey": "1"}}, s.c.InvalidMetadata...)
	for _, bad := range invalid {
		md := s.metadata(t)
		maps.Copy(md, bad)
		if s.typ.Directions.Has(bindings.DirInput) {
			if in, _, err := bindings.OpenInput(ctx, s.config(md)); err == nil {
				in.Close()
				t.Errorf("OpenInput accepted invalid metadata %v", bad)
			} else {
				t.Logf("OpenInput with %v: %v", bad, err)
			}
		}
		if s.typ.Directions.Has(bindings.DirOutput) {
			if out, _, err := bindings.OpenOutput(ctx, s.config(md)); err == nil {
				out.Close()
				t.Errorf("OpenOutput accepted invalid metadata %v", bad)
			} else {
				t.Logf("OpenOutput with %v: %v", bad, err)
			}
		}
	}
}

// testOpenClose opens and closes each direction, and checks that the
// optional interfaces match the declared capabilities.
func (s *suite) testOpenClose(t *testing.T, ctx context.Context) {
	md := s.metadata(t)
	if s.typ.Directions.Has(bindings.DirInput) {
		in, _, err := bindings.OpenInput(ctx, s.config(md))
		if err != nil {
			t.Fatalf("OpenInput with valid metadata: %v", err)
		}
		if _, ok := in.(bindings.LeaseExtender); ok != s.cap.Lease {
			t.Errorf("Capabilities.Lease is %v, but the input implements LeaseExtender: %v", s.cap.Lease, ok)
		}
		if _, ok := in.(bindings.Replier); ok != s.cap.RequestReply {
			t.Errorf("Capabilities.RequestReply is %v, but the input implements Replier: %v", s.cap.RequestReply, ok)
		}
		if err := in.Close(); err != nil {
			t.Errorf("input Close: %v", err)
		}
		in.Close() // a second Close must not panic
	}
	if s.typ.Directions.Has(bindings.DirOutput) {
		out, _, err := bindings.OpenOutput(ctx, s.config(md))
		if err != nil {
			t.Fatalf("OpenOutput with valid metadata: %v", err)
		}
		if err := out.Close(); err != nil {
			t.Errorf("output Close: %v", err)
		}
		out.Close() // a second Close must not panic
	}
}

// testUnsupportedOperation checks that an operation the type does not have
// fails with ErrUnsupportedOperation, from OpenOutput's output and from the
// driver's own.
func (s *suite) testUnsupportedOperation(t *testing.T, ctx context.Context) {
	out := s.openOutput(t, ctx, s.metadata(t))
	const op = bindings.Operation("tether-conformance-unsupported")
	req := &bindings.InvokeRequest{Operation: op, Data: []byte("x")}
	for _, o := range []struct {
		name string
		out  bindings.Output
	}{{"OpenOutput's output", out}, {"the driver's output", bindings.Driver(out)}} {
		_, err := o.out.Invoke(ctx, req)
		switch {
		case err == nil:
			t.Errorf("%s: Invoke(%q) succeeded", o.name, op)
		case !errors.Is(err, bindings.ErrUnsupportedOperation):
			t.Errorf("%s: Invoke(%q) = %v, want an error wrapping bindings.ErrUnsupportedOperation", o.name, op, err)
		case !strings.Contains(err.Error(), string(op)):
			t.Errorf("%s: Invoke(%q) = %v, want the operation named in the error", o.name, op, err)
		}
	}
}
