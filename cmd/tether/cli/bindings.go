package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tetherfn/tether/bindings"
	// Every binding type, so that tether bindings lists them all and tether
	// new can scaffold any of them.
	_ "github.com/tetherfn/tether/bindings/all"
	"github.com/tetherfn/tether/internal/scaffold"
	"github.com/tetherfn/tether/internal/textwrap"
)

func init() { register(newBindingsCommand) }

func newBindingsCommand(env *Env) *cobra.Command {
	var output, direction string
	cmd := &cobra.Command{
		Use:   "bindings [type]",
		Short: "List the binding types, or describe one: its metadata keys, defaults and operations",
		Long: `bindings lists the binding types Tether knows, with their directions (input
types trigger functions, output types are written to) and operations. Given
a type (with or without the "bindings." prefix), it describes it: every
metadata key a component of the type may set, with its kind, default,
direction and meaning; its operations; what its input can do; and the
metadata each input message carries. Inputs also take the delivery keys
(maxConcurrency, retries, dead letter...) listed at the end.

Everything comes from the types' own declarations, the ones that validate
component files. --output json prints the same as JSON objects.`,
		Example: `  tether bindings
  tether bindings --direction input
  tether bindings nats
  tether bindings bindings.aws.sqs --output json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError(cmd, "want at most one binding type")
			}
			return nil
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeTypes(0)(cmd, args, "")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError(cmd, fmt.Sprintf("--output %q: want text or json", output))
			}
			var dir bindings.Direction
			switch direction {
			case "":
			case "input":
				dir = bindings.DirInput
			case "output":
				dir = bindings.DirOutput
			default:
				return usageError(cmd, fmt.Sprintf("--direction %q: want input or output", direction))
			}
			if len(args) == 1 {
				t, ok := scaffold.LookupType(args[0])
				if !ok {
					msg := fmt.Sprintf("unknown binding type %q", args[0])
					if hint := scaffold.SuggestType(args[0]); hint != "" {
						msg += fmt.Sprintf("; did you mean %q?", hint)
					}
					return fmt.Errorf("%s\ntether bindings lists the types", msg)
				}
				if output == "json" {
					return writeJSON(env.Stdout, viewType(t))
				}
				describeType(env.Stdout, t)
				return nil
			}
			views := []typeView{}
			for _, t := range bindings.Types() {
				if dir == 0 || t.Directions.Has(dir) {
					views = append(views, viewType(t))
				}
			}
			if output == "json" {
				return writeJSON(env.Stdout, views)
			}
			listTypes(env.Stdout, views)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&direction, "direction", "", "list only the types with this direction: input or output")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("direction", cobra.FixedCompletions([]string{"input", "output"}, cobra.ShellCompDirectiveNoFileComp))
	withUsageHint(cmd)
	return cmd
}

// typeView is a binding type's declaration as tether bindings shows it.
type typeView struct {
	Name          string    `json:"name"`
	Aliases       []string  `json:"aliases,omitempty"`
	Version       string    `json:"version,omitempty"`
	Summary       string    `json:"summary"`
	Directions    []string  `json:"directions"`
	Operations    []string  `json:"operations,omitempty"`
	Capabilities  []string  `json:"capabilities,omitempty"`
	Metadata      []keyView `json:"metadata"`
	GenericKeys   []keyView `json:"genericKeys"`
	DeliveryKeys  []keyView `json:"deliveryKeys,omitempty"`
	InputMetadata []keyView `json:"inputMetadata,omitempty"`
}

// keyView is one metadata key.
type keyView struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind,omitempty"`
	Enum        []string `json:"enum,omitempty"`
	Required    bool     `json:"required,omitempty"`
	Default     string   `json:"default,omitempty"`
	Directions  []string `json:"directions,omitempty"`
	Secret      bool     `json:"secret,omitempty"`
	Example     string   `json:"example,omitempty"`
	Description string   `json:"description"`
	Aliases     []string `json:"aliases,omitempty"`
	Ignored     string   `json:"ignored,omitempty"`
}

func viewKeys(keys []bindings.MetadataKey, kinds bool) []keyView {
	out := []keyView{}
	for _, k := range keys {
		v := keyView{
			Name: k.Name, Enum: k.Enum, Required: k.Required, Default: k.Default,
			Secret: k.Secret, Example: k.Example, Description: k.Description,
			Aliases: k.Aliases, Ignored: k.Ignored,
		}
		if kinds {
			v.Kind = k.Kind.String()
			v.Directions = directions(k.Direction)
			if k.Direction == 0 {
				v.Directions = []string{"input", "output"}
			}
		}
		out = append(out, v)
	}
	return out
}

func viewType(t *bindings.Type) typeView {
	v := typeView{
		Name: t.Name, Aliases: t.Aliases, Version: t.Version, Summary: t.Summary,
		Directions: directions(t.Directions), Metadata: viewKeys(t.Metadata, true),
		GenericKeys: viewKeys(bindings.GenericKeys, true),
	}
	for _, op := range t.Operations {
		v.Operations = append(v.Operations, string(op))
	}
	if t.Directions.Has(bindings.DirInput) {
		v.Capabilities = capabilities(t.Capabilities)
		v.DeliveryKeys = viewKeys(t.DeliveryKeys(), true)
		v.InputMetadata = viewKeys(t.InputMetadata, false)
	}
	return v
}

// capabilities names the capabilities an input declares.
func capabilities(c bindings.Capabilities) []string {
	var out []string
	for _, f := range []struct {
		on   bool
		name string
	}{
		{c.BatchReceive, "batchReceive"}, {c.Ordering, "ordering"}, {c.Lease, "lease"},
		{c.NativeDeadLetter, "nativeDeadLetter"}, {c.DelayedNack, "delayedNack"},
		{c.RequestReply, "requestReply"}, {c.Metadata, "metadata"}, {c.ContentType, "contentType"},
		{c.DeliveryCount, "deliveryCount"}, {c.Duplicates, "duplicates"},
	} {
		if f.on {
			out = append(out, f.name)
		}
	}
	return out
}

func listTypes(w io.Writer, views []typeView) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tDIRECTIONS\tOPERATIONS\tSUMMARY")
	for _, v := range views {
		ops := strings.Join(v.Operations, ", ")
		if ops == "" {
			ops = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, strings.Join(v.Directions, ", "), ops, v.Summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\ntether bindings <type> describes a type's metadata keys.")
}

// describeWidth is how wide descriptions are wrapped.
const describeWidth = 72

func describeType(w io.Writer, t *bindings.Type) {
	v := viewType(t)
	fmt.Fprintf(w, "%s", t.Name)
	if t.Version != "" {
		fmt.Fprintf(w, " %s", t.Version)
	}
	fmt.Fprintf(w, ": %s\n\n", t.Summary)
	fmt.Fprintf(w, "directions:    %s\n", strings.Join(v.Directions, ", "))
	if len(v.Aliases) > 0 {
		fmt.Fprintf(w, "aliases:       %s\n", strings.Join(v.Aliases, ", "))
	}
	if len(v.Operations) > 0 {
		fmt.Fprintf(w, "operations:    %s\n", strings.Join(v.Operations, ", "))
	}
	if t.Directions.Has(bindings.DirInput) {
		caps := strings.Join(v.Capabilities, ", ")
		if caps == "" {
			caps = "(none)"
		}
		fmt.Fprintf(w, "capabilities:  %s\n", caps)
	}

	fmt.Fprintf(w, "\nMetadata keys of %s components:\n", t.Name)
	if len(t.Metadata) == 0 {
		fmt.Fprintln(w, "  (none of its own)")
	}
	writeKeys(w, t.Metadata, t.Directions)
	fmt.Fprintln(w, "\nGeneric keys, for every component:")
	writeKeys(w, bindings.GenericKeys, t.Directions)
	if t.Directions.Has(bindings.DirInput) {
		fmt.Fprintln(w, "\nDelivery keys, for input components (the runtime's, as for every input type):")
		writeKeys(w, t.DeliveryKeys(), bindings.DirInput)
		if len(t.InputMetadata) > 0 {
			fmt.Fprintln(w, "\nMetadata of each input message:")
			for _, k := range t.InputMetadata {
				fmt.Fprintf(w, "  %s\n", k.Name)
				for _, l := range textwrap.Lines(k.Description, describeWidth) {
					fmt.Fprintf(w, "      %s\n", l)
				}
			}
		}
	}
}

// writeKeys writes one block per key: its name and facts, then its
// description. typeDirs are the type's directions: a key's direction is
// shown only when it is narrower.
func writeKeys(w io.Writer, keys []bindings.MetadataKey, typeDirs bindings.Direction) {
	for _, k := range keys {
		if k.Ignored != "" {
			fmt.Fprintf(w, "  %s  accepted from Dapr's files and ignored: %s\n", strings.Join(append([]string{k.Name}, k.Aliases...), ", "), k.Ignored)
			continue
		}
		facts := []string{k.Kind.String()}
		if len(k.Aliases) > 0 {
			facts = append(facts, "also read as "+strings.Join(k.Aliases, ", "))
		}
		if k.Kind == bindings.KindEnum {
			facts[0] += " (" + strings.Join(k.Enum, ", ") + ")"
		}
		if k.Required {
			facts = append(facts, "required")
		}
		if k.Default != "" {
			facts = append(facts, "default "+k.Default)
		}
		if k.Direction != 0 && typeDirs == bindings.DirBoth && k.Direction != bindings.DirBoth {
			facts = append(facts, k.Direction.String()+" only")
		}
		if k.Secret {
			facts = append(facts, "secret")
		}
		if k.Example != "" && k.Default == "" {
			facts = append(facts, "e.g. "+k.Example)
		}
		fmt.Fprintf(w, "  %s  %s\n", k.Name, strings.Join(facts, ", "))
		for _, l := range textwrap.Lines(k.Description, describeWidth) {
			fmt.Fprintf(w, "      %s\n", l)
		}
	}
}
