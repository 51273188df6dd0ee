package gen_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherfn/tether/internal/gen"
)

// tenFunctions is a package with ten functions of varied shapes.
func tenFunctions() string {
	var b strings.Builder
	b.WriteString(`package ten

import (
	"context"

	"github.com/tetherfn/tether/functions"
)

type Order struct {
	ID string ` + "`json:\"id\"`" + `
}

type Outputs struct {
	Out functions.Output[Order] ` + "`binding:\"out\"`" + `
}
`)
	shapes := []string{
		"func F%d(ctx context.Context, o Order) error { return nil }",
		"func F%d(ctx context.Context, o *Order, out Outputs) error { return out.Out.Send(ctx, *o) }",
		"func F%d(ctx context.Context, data []byte) ([]byte, error) { return data, nil }",
		"func F%d(ctx context.Context, ev *functions.Event) (Order, error) { return Order{ID: ev.ID()}, nil }",
		"func F%d(ctx context.Context, s string) (*Order, error) { return &Order{ID: s}, nil }",
	}
	for i := range 10 {
		fmt.Fprintf(&b, "\n// F%d is function %d.\n//\n//tether:function f%d trigger=in%d\n", i, i, i, i)
		fmt.Fprintf(&b, shapes[i%len(shapes)]+"\n", i)
	}
	return b.String()
}

// BenchmarkGenerate10Functions is tether generate on a package of ten
// functions with a warm module and build cache: load and check the package,
// render and format eleven files, compare them with the disk.
func BenchmarkGenerate10Functions(b *testing.B) {
	dir := newModule(b)
	if err := os.MkdirAll(filepath.Join(dir, "ten"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ten", "ten.go"), []byte(tenFunctions()), 0o644); err != nil {
		b.Fatal(err)
	}
	opts := &gen.Options{Dir: filepath.Join(dir, "ten"), Env: goEnv()}
	run := func() {
		files, diags := gen.Generate(nil, opts)
		if len(diags) > 0 {
			b.Fatal(diags)
		}
		if len(files) != 11 {
			b.Fatalf("%d files, want 11", len(files))
		}
		if _, err := gen.Write(files); err != nil {
			b.Fatal(err)
		}
	}
	run() // warms the build cache with the dependencies' export data
	for b.Loop() {
		run()
	}
}
