// Package component loads Dapr component files: the YAML that says which
// binding a function is triggered by and which it writes to, with its
// metadata, secrets and delivery settings.
//
// A folder of *.yaml / *.yml files (several documents per file, split on
// "---") is one environment. Load validates every binding component against
// its registered [bindings.Type], resolves secretKeyRef and envRef through
// the secret stores defined in the same folders, and reports every problem
// of every file at once as [Diagnostics], each "file:line: message":
//
//	set, err := component.Load([]string{"components/local"}, &component.Options{AppID: "orders"})
//	if err != nil {
//		fmt.Fprintln(os.Stderr, err) // one problem per line
//		os.Exit(1)
//	}
//	orders, _ := set.Get("orders")
//	in, _, err := bindings.OpenInput(ctx, orders.Config(logger))
//
// Secret values live only in [Component.Metadata] and the [bindings.Config]
// made from it: they are never logged or put in an error, and
// [Component.Redacted] shows them as "***".
//
// [Parse] checks one file without the filesystem or the environment, for
// editors, linters and fuzzing. The format, the secret stores and every key
// are described in docs/components.md.
package component
