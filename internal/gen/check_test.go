package gen

import (
	"go/types"
	"testing"

	"golang.org/x/tools/go/packages"
)

// TestBinderShape keeps implementsBinder, which checks the method, in step
// with bindings.Binder: the interface must have exactly that one method,
// and the two checks must agree on real types.
func TestBinderShape(t *testing.T) {
	pkgs, err := packages.Load(&packages.Config{Mode: packages.NeedTypes | packages.NeedName},
		functionsPath, bindingsPath, modulePath+"/bindings/nats")
	if err != nil || packages.PrintErrors(pkgs) > 0 {
		t.Fatalf("load: %v", err)
	}
	var functions, bindings, nats *types.Package
	for _, p := range pkgs {
		switch p.PkgPath {
		case functionsPath:
			functions = p.Types
		case bindingsPath:
			bindings = p.Types
		default:
			nats = p.Types
		}
	}
	binder := bindings.Scope().Lookup("Binder").Type().Underlying().(*types.Interface)
	if binder.NumMethods() != 1 || binder.Method(0).Name() != "BindOutput" {
		t.Fatalf("bindings.Binder is %s: update implementsBinder", binder)
	}
	output := functions.Scope().Lookup("Output").Type().(*types.Named)
	outputOfInt, err := types.Instantiate(nil, output, []types.Type{types.Typ[types.Int]}, true)
	if err != nil {
		t.Fatal(err)
	}
	client := nats.Scope().Lookup("Client").Type()
	for _, c := range []struct {
		t    types.Type
		want bool
	}{
		{types.NewPointer(outputOfInt), true},
		{outputOfInt, false}, // the method has a pointer receiver
		{types.NewPointer(client), true},
		{client, false},
		{types.Typ[types.Int], false},
		{binder, true}, // the interface itself; fields of interface type are refused elsewhere
	} {
		if got, impl := implementsBinder(c.t), types.Implements(c.t, binder); got != c.want || impl != c.want {
			t.Errorf("%s: implementsBinder %v, types.Implements %v; want %v", c.t, got, impl, c.want)
		}
	}
}
