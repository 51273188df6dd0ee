package scaffold_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/mod/modfile"

	"github.com/tetherfn/tether/bindings"
	_ "github.com/tetherfn/tether/bindings/all"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/internal/scaffold"
)

// repoRoot is the Tether checkout these tests run in.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func render(t *testing.T, o scaffold.Options) map[string]string {
	t.Helper()
	if o.Tether == (scaffold.Tether{}) {
		o.Tether.Replace = repoRoot(t)
	}
	files, err := scaffold.Render(o)
	if err != nil {
		t.Fatalf("Render(%+v): %v", o, err)
	}
	out := map[string]string{}
	for _, f := range files {
		if _, dup := out[f.Path]; dup {
			t.Errorf("%s rendered twice", f.Path)
		}
		out[f.Path] = string(f.Content)
	}
	return out
}

// writeTree writes files under a new temporary folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// placeholderEnv answers every envRef of a scaffold with a value of the
// right kind for its key: the key's example, or a word.
func placeholderEnv(t *testing.T) func(string) (string, bool) {
	values := map[string]string{}
	for _, typ := range bindings.Types() {
		for _, k := range typ.Metadata {
			v := k.Example
			if v == "" {
				v = "placeholder"
			}
			values[strings.ToUpper(k.Name)] = v
		}
	}
	return func(name string) (string, bool) {
		for key, v := range values {
			if strings.HasSuffix(strings.ReplaceAll(name, "_", ""), key) {
				return v, true
			}
		}
		t.Errorf("envRef %s: no key of any type ends so", name)
		return "x", true
	}
}

// TestEveryTypeScaffolds renders a function for every type that can
// trigger one (with the same type as output where it has one) and a
// function writing to every output type, and checks that every component
// file loads, lists every key of its type, and keeps secrets out.
func TestEveryTypeScaffolds(t *testing.T) {
	var outputsAll []string
	type tcase struct {
		name, trigger string
		outputs       []string
	}
	var cases []tcase
	for _, typ := range bindings.Types() {
		short := scaffold.ShortName(typ.Name)
		if typ.Directions.Has(bindings.DirOutput) && typ.Supports(bindings.OpCreate) {
			outputsAll = append(outputsAll, short)
		}
		if typ.Directions.Has(bindings.DirInput) {
			c := tcase{name: "fn-" + strings.ReplaceAll(short, ".", "-"), trigger: short}
			if typ.Directions.Has(bindings.DirOutput) {
				c.outputs = []string{short}
			}
			cases = append(cases, c)
		}
	}
	cases = append(cases, tcase{name: "every-output", trigger: "memory", outputs: outputsAll})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := render(t, scaffold.Options{Name: c.name, Trigger: c.trigger, Outputs: c.outputs})
			pkg := scaffold.PackageName(c.name)
			for _, want := range []string{"go.mod", "go.sum", pkg + ".go", pkg + "_test.go", "README.md", "Dockerfile", "example.json", ".gitignore",
				"components/" + c.name + "-in.yaml", "components/local/" + c.name + "-in.yaml", "components/local/" + c.name + "-deadletter.yaml"} {
				if _, ok := files[want]; !ok {
					t.Errorf("no %s among %v", want, keys(files))
				}
			}
			if !strings.Contains(files[".gitignore"], ".tether/") {
				t.Errorf(".gitignore does not ignore tether dev's state (.tether/):\n%s", files[".gitignore"])
			}
			handler := files[pkg+".go"]
			for _, want := range []string{
				"//tether:function " + c.name + " trigger=" + c.name + "-in\n",
				"//go:generate go run github.com/tetherfn/tether/cmd/tether generate\n",
			} {
				if !strings.Contains(handler, want) {
					t.Errorf("%s.go lacks %q:\n%s", pkg, want, handler)
				}
			}
			if strings.Count(files[pkg+".go"], "functions.Output[Message]") != len(c.outputs) {
				t.Errorf("Outputs do not have one field per output:\n%s", handler)
			}

			dir := writeTree(t, files)
			local, err := component.Load([]string{filepath.Join(dir, "components", "local")}, nil)
			if err != nil {
				t.Fatalf("components/local:\n%v", err)
			}
			for _, comp := range local.Components() {
				if comp.Binding.Name != "bindings.memory" || comp.Metadata["queue"] != comp.Name {
					t.Errorf("local %s: type %s, queue %q; want an in-memory queue of its name", comp.Name, comp.Binding.Name, comp.Metadata["queue"])
				}
			}
			trig, _ := local.Get(c.name + "-in")
			if trig == nil || trig.Direction != bindings.DirBoth || trig.Delivery.DeadLetter != c.name+"-deadletter" {
				t.Errorf("local trigger %+v: want input and output, dead-lettering to %s-deadletter", trig, c.name)
			}

			real, err := component.Load([]string{filepath.Join(dir, "components")}, &component.Options{LookupEnv: placeholderEnv(t)})
			if err != nil {
				t.Fatalf("components:\n%v", err)
			}
			// On the real broker, a trigger that can be written to
			// dead-letters to a component of its own type, so that a
			// poison message does not come back for ever.
			wantDL := scaffold.RealDeadLetter(typ(t, c.trigger))
			want := 1 + len(c.outputs)
			realTrig, _ := real.Get(c.name + "-in")
			if wantDL {
				want++
				dl, _ := real.Get(c.name + "-deadletter")
				if realTrig == nil || realTrig.Delivery.DeadLetter != c.name+"-deadletter" || dl == nil || dl.Binding != realTrig.Binding || dl.Direction != bindings.DirOutput {
					t.Errorf("components/: trigger %+v, dead letter %+v; want the trigger dead-lettering to an output %s-deadletter of its type", realTrig, dl, c.name)
				}
			} else if realTrig == nil || realTrig.Delivery.DeadLetter != "" {
				t.Errorf("components/: trigger %+v; a %s trigger has no dead letter to write to", realTrig, c.trigger)
			}
			if n := len(real.Components()); n != want {
				t.Errorf("components/ has %d components, want %d", n, want)
			}
			for _, comp := range real.Components() {
				text := files["components/"+comp.Name+".yaml"]
				for _, k := range comp.Binding.Keys(comp.Direction) {
					if k.Direction != 0 && k.Direction&comp.Direction == 0 {
						continue // route, on an output
					}
					if k.Ignored != "" {
						continue // Dapr's, accepted for its files only
					}
					if !strings.Contains(text, "- name: "+k.Name+"\n") {
						t.Errorf("%s.yaml does not list key %s", comp.Name, k.Name)
					}
					if k.Secret && !strings.Contains(text, "- name: "+k.Name+"\n  #   envRef: ") && !strings.Contains(text, "- name: "+k.Name+"\n    envRef: ") {
						t.Errorf("%s.yaml: secret key %s is not an envRef:\n%s", comp.Name, k.Name, text)
					}
				}
			}
		})
	}
}

// typ is the registered type of a short type name.
func typ(t *testing.T, short string) *bindings.Type {
	t.Helper()
	ty, ok := bindings.Lookup("bindings." + short)
	if !ok {
		t.Fatalf("no type %s", short)
	}
	return ty
}

// TestTwoFunctionsShareNoBrokerName: every queue, topic, stream, table,
// subscription, consumer group and client id the scaffold writes derives
// from the function, so two functions scaffolded on one broker never split
// one queue between them (they did: RabbitMQ's example queue "orders").
func TestTwoFunctionsShareNoBrokerName(t *testing.T) {
	names := []string{"queueName", "topic", "topics", "publishTopic", "stream", "subject", "subscription",
		"consumerGroup", "consumerID", "durableName", "table", "queue"}
	for _, ty := range bindings.Types() {
		if !ty.Directions.Has(bindings.DirInput) {
			continue
		}
		short := scaffold.ShortName(ty.Name)
		t.Run(short, func(t *testing.T) {
			seen := map[string]string{} // "key=value" -> function
			for _, fn := range []string{"alpha", "beta"} {
				var outs []string
				if ty.Directions.Has(bindings.DirOutput) {
					outs = []string{short}
				}
				files := render(t, scaffold.Options{Name: fn, Trigger: short, Outputs: outs})
				dir := writeTree(t, files)
				real, err := component.Load([]string{filepath.Join(dir, "components")}, &component.Options{LookupEnv: placeholderEnv(t)})
				if err != nil {
					t.Fatal(err)
				}
				for _, comp := range real.Components() {
					for _, k := range names {
						v, ok := comp.Metadata[k]
						if !ok || v == "" {
							continue
						}
						if other, dup := seen[k+"="+v]; dup && other != fn {
							t.Errorf("%s and %s both set %s: %q", other, fn, k, v)
						}
						seen[k+"="+v] = fn
					}
				}
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestComponentFileForNATS(t *testing.T) {
	files := render(t, scaffold.Options{Name: "orders", Trigger: "bindings.nats", Outputs: []string{"memory", "memory"}})
	in := files["components/orders-in.yaml"]
	for _, want := range []string{
		"  type: bindings.nats\n  version: v1\n",
		"  - name: direction\n    value: \"input\"\n",
		// Required: active; a secret comes from the environment.
		"  - name: natsURL\n    envRef: ORDERS_IN_NATS_URL\n",
		"  - name: stream\n    value: \"orders-in\"\n",
		// Optional: commented out, with its default.
		"  # - name: ackWait\n  #   value: \"30s\"\n",
		"  # - name: maxAttempts\n  #   value: \"5\"\n",
		"(duration; default 30s)",
	} {
		if !strings.Contains(in, want) {
			t.Errorf("orders-in.yaml lacks %q:\n%s", want, in)
		}
	}
	if strings.Contains(in, "publishTopic") || strings.Contains(in, "- name: maxLength") {
		t.Errorf("orders-in.yaml has keys of another direction or type:\n%s", in)
	}
	// The same type twice: names and fields stay distinct.
	handler := files["orders.go"]
	for _, want := range []string{"Memory  functions.Output[Message] `binding:\"orders-memory\"`", "Memory2 functions.Output[Message] `binding:\"orders-memory-2\"`"} {
		if !strings.Contains(handler, want) {
			t.Errorf("orders.go lacks %q:\n%s", want, handler)
		}
	}
	if !strings.Contains(files["README.md"], "| `ORDERS_IN_NATS_URL` | `orders-in` | `natsURL` |") {
		t.Errorf("README does not list the secret:\n%s", files["README.md"])
	}
}

func TestGoMod(t *testing.T) {
	root := repoRoot(t)
	files := render(t, scaffold.Options{Name: "hello-world", Trigger: "memory", Module: "example.com/fn/hello-world"})
	mf, err := modfile.Parse("go.mod", []byte(files["go.mod"]), nil)
	if err != nil {
		t.Fatalf("go.mod: %v\n%s", err, files["go.mod"])
	}
	if mf.Module.Mod.Path != "example.com/fn/hello-world" || len(mf.Replace) != 1 || mf.Replace[0].New.Path != root ||
		len(mf.Tool) != 1 || mf.Tool[0].Path != scaffold.TetherModule+"/cmd/tether" {
		t.Errorf("go.mod:\n%s", files["go.mod"])
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if files["go.sum"] != string(sum) {
		t.Error("go.sum is not the checkout's")
	}
	// The package is not the last element of the path: the test names it.
	if !strings.Contains(files["helloworld_test.go"], `helloworld "example.com/fn/hello-world"`) {
		t.Errorf("the test imports the package without its name:\n%s", files["helloworld_test.go"])
	}

	files = render(t, scaffold.Options{Name: "hello", Trigger: "memory", Tether: scaffold.Tether{Version: "v1.2.3"}})
	if !strings.Contains(files["go.mod"], "require github.com/tetherfn/tether v1.2.3\n") || strings.Contains(files["go.mod"], "replace") {
		t.Errorf("go.mod at a version:\n%s", files["go.mod"])
	}
	if _, ok := files["go.sum"]; ok {
		t.Error("a go.sum without a checkout to copy it from")
	}
}

// TestGoVersionIsTethers keeps new modules' go directive in step with
// Tether's own.
func TestGoVersionIsTethers(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mf.Go.Version != scaffold.GoVersion {
		t.Errorf("scaffold.GoVersion = %s; Tether's go.mod says %s", scaffold.GoVersion, mf.Go.Version)
	}
}

func TestRefusals(t *testing.T) {
	for _, c := range []struct {
		o    scaffold.Options
		want []string
	}{
		{scaffold.Options{Name: "Hello_World", Trigger: "memory"}, []string{`"Hello_World" is not a DNS-1123 label`, `try "hello-world"`}},
		{scaffold.Options{Name: "-x", Trigger: "memory"}, []string{"not a DNS-1123 label"}},
		{scaffold.Options{Name: strings.Repeat("a", 64), Trigger: "memory"}, []string{"at most 63"}},
		{scaffold.Options{Name: "2fa", Trigger: "memory"}, []string{`package name "2fa" is not a Go identifier`, "--package"}},
		{scaffold.Options{Name: "func", Trigger: "memory"}, []string{`"func" is a Go keyword`}},
		{scaffold.Options{Name: "main", Trigger: "memory"}, []string{`"main" cannot be imported`}},
		{scaffold.Options{Name: "ok", Package: "Bad", Trigger: "memory"}, []string{"upper-case"}},
		{scaffold.Options{Name: "ok", Module: "bad path!", Trigger: "memory"}, []string{`module path "bad path!"`}},
		{scaffold.Options{Name: "ok"}, []string{"--trigger: a binding type is required"}},
		{scaffold.Options{Name: "ok", Trigger: "natz"}, []string{`unknown binding type "natz"; did you mean "nats"?`, "types that can trigger a function: ", "memory"}},
		{scaffold.Options{Name: "ok", Trigger: "smtp"}, []string{"bindings.smtp cannot trigger a function: it is output only"}},
		{scaffold.Options{Name: "ok", Trigger: "memory", Outputs: []string{"memroy"}}, []string{`--output: unknown binding type "memroy"; did you mean "memory"?`}},
		// Every problem at once.
		{scaffold.Options{Name: "Bad!", Trigger: "nope", Outputs: []string{"zzz"}}, []string{"DNS-1123", `--trigger: unknown binding type "nope"`, `--output: unknown binding type "zzz"`}},
	} {
		o := c.o
		o.Tether.Replace = repoRoot(t)
		_, err := scaffold.Render(o)
		if err == nil {
			t.Errorf("Render(%+v) succeeded", c.o)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Render(%+v) = %q, want it to say %q", c.o, err, w)
			}
		}
	}
}

// TestTemplateOverlay checks the three ways to change the scaffold: a
// file of one's own replacing a built-in one, an extra file, and a type's
// own component templates.
func TestTemplateOverlay(t *testing.T) {
	fsys := fstest.MapFS{
		"scaffold/Dockerfile.tmpl":        {Data: []byte("{{/* no Dockerfile */}}\n")},
		"scaffold/NOTES-__name__.tmpl":    {Data: []byte("notes for {{.Name}} ({{.Trigger.Name}})\n")},
		"scaffold/LICENSE":                {Data: []byte("copied as it is: {{.Name}}\n")},
		"components/nats.yaml.tmpl":       {Data: []byte("# own {{.Name}} {{.Type.Name}} {{.Role}}\n")},
		"components/local/nats.yaml.tmpl": {Data: []byte("# own local {{.Name}} {{.Type.Name}}\n")},
	}
	files := render(t, scaffold.Options{Name: "orders", Trigger: "nats", Outputs: []string{"memory"}, Templates: fsys})
	if _, ok := files["Dockerfile"]; ok {
		t.Error("a template rendering to nothing still wrote Dockerfile")
	}
	for path, want := range map[string]string{
		"NOTES-orders":                            "notes for orders (orders-in)\n",
		"LICENSE":                                 "copied as it is: {{.Name}}\n",
		"components/orders-in.yaml":               "# own orders-in bindings.nats trigger\n",
		"components/local/orders-in.yaml":         "# own local orders-in bindings.nats\n",
		"components/orders-memory.yaml":           "", // the generic one: checked below
		"components/local/orders-deadletter.yaml": "",
	} {
		got, ok := files[path]
		if !ok {
			t.Errorf("no %s", path)
			continue
		}
		if want != "" && got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if !strings.Contains(files["components/orders-memory.yaml"], "type: bindings.memory") || files["orders.go"] == "" {
		t.Error("the built-in templates were not used for what the overlay does not replace")
	}

	// Templates of a trigger type's own replace scaffold/ files for the
	// functions it triggers, and add to them.
	files = render(t, scaffold.Options{Name: "orders", Trigger: "nats", Templates: fstest.MapFS{
		"triggers/nats/__name__.go.tmpl": {Data: []byte("package {{.Package}}\n\n// own handler for {{.Trigger.Type.Name}}\n")},
		"triggers/nats/EXTRA.md.tmpl":    {Data: []byte("extra\n")},
	}})
	if files["orders.go"] != "package orders\n\n// own handler for bindings.nats\n" || files["EXTRA.md"] != "extra\n" || files["orders_test.go"] == "" {
		t.Errorf("trigger templates: orders.go %q, EXTRA.md %q", files["orders.go"], files["EXTRA.md"])
	}
	if other := render(t, scaffold.Options{Name: "orders", Trigger: "memory", Templates: fstest.MapFS{
		"triggers/nats/__name__.go.tmpl": {Data: []byte("package x\n")},
	}}); strings.Contains(other["orders.go"], "package x") {
		t.Error("a nats trigger's template used for a memory trigger")
	}

	// A type's own template can redefine one of the generic template's
	// parts and call the generic template for the rest.
	files = render(t, scaffold.Options{Name: "orders", Trigger: "memory", Templates: fstest.MapFS{
		"components/memory.yaml.tmpl": {Data: []byte(`{{define "key"}}
  # own key {{.Name}}{{end}}{{template "component.yaml.tmpl" .}}`)},
	}})
	if in := files["components/orders-in.yaml"]; !strings.Contains(in, "\n  # own key queue\n") || !strings.Contains(in, "  type: bindings.memory\n") {
		t.Errorf("an own template calling the generic one:\n%s", in)
	}

	_, err := scaffold.Render(scaffold.Options{Name: "x", Trigger: "memory", Tether: scaffold.Tether{Replace: repoRoot(t)},
		Templates: fstest.MapFS{"scaffold/__name__.go.tmpl": {Data: []byte("package {{.Package}}\nfunc (\n")}}})
	if err == nil || !strings.Contains(err.Error(), "renders invalid Go") {
		t.Errorf("a template writing broken Go: %v", err)
	}
}

func TestWriteNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	files := []scaffold.File{{Path: "a.txt", Content: []byte("new a")}, {Path: "sub/b.txt", Content: []byte("new b")}, {Path: "c.txt", Content: []byte("new c")}}
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a.txt", "sub/b.txt"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := scaffold.Write(dir, files)
	var exists *scaffold.ExistsError
	if !errors.As(err, &exists) || !slices.Equal(exists.Paths, []string{"a.txt", "sub/b.txt"}) {
		t.Fatalf("Write over existing files: %v", err)
	}
	for _, p := range []string{"a.txt", "sub/b.txt"} {
		if b, _ := os.ReadFile(filepath.Join(dir, p)); string(b) != "mine" {
			t.Errorf("%s was overwritten", p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "c.txt")); err == nil {
		t.Error("Write wrote some files although it refused")
	}
	if err := scaffold.Write(filepath.Join(dir, "fresh"), files); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "fresh", "sub", "b.txt")); string(b) != "new b" {
		t.Errorf("sub/b.txt = %q", b)
	}
}

func TestCheckout(t *testing.T) {
	root := repoRoot(t)
	if err := scaffold.CheckCheckout(root); err != nil {
		t.Errorf("the repository: %v", err)
	}
	if got := scaffold.FindCheckout(filepath.Join(root, "internal", "scaffold")); got != root {
		t.Errorf("FindCheckout from inside = %q, want %q", got, root)
	}
	if got := scaffold.SourceCheckout(); got != root {
		t.Errorf("SourceCheckout = %q, want %q", got, root)
	}
	other := writeTree(t, map[string]string{"go.mod": "module example.com/other\n"})
	if err := scaffold.CheckCheckout(other); err == nil || !strings.Contains(err.Error(), "declares module example.com/other") {
		t.Errorf("another module: %v", err)
	}
	if err := scaffold.CheckCheckout(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no go.mod") {
		t.Errorf("a folder without go.mod: %v", err)
	}
	if got := scaffold.FindCheckout(other); got != "" {
		t.Errorf("FindCheckout outside any checkout = %q", got)
	}
}

// TestScheduleHandler checks the built-in templates of bindings.cron: the
// handler takes the tick, and a function named like the package it imports
// still compiles (the test names the import).
func TestScheduleHandler(t *testing.T) {
	files := render(t, scaffold.Options{Name: "cron", Trigger: "cron", Outputs: []string{"memory"}})
	if !strings.Contains(files["cron.go"], "func Handle(ctx context.Context, tick cron.Tick, out Outputs) error {") {
		t.Errorf("cron.go:\n%s", files["cron.go"])
	}
	if !strings.Contains(files["cron_test.go"], `croninput "github.com/tetherfn/tether/bindings/cron"`) ||
		!strings.Contains(files["cron_test.go"], "croninput.Tick{") {
		t.Errorf("cron_test.go:\n%s", files["cron_test.go"])
	}
	if !strings.Contains(files["example.json"], `"scheduledTime"`) {
		t.Errorf("example.json = %s, want a tick", files["example.json"])
	}
}
