package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/internal/gen"
	"github.com/tetherfn/tether/internal/suggest"
)

func init() { register(newComponentsCommand) }

func newComponentsCommand(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "components",
		Short: "List or validate folders of component files",
		Long: `components loads folders of Dapr component files as a function would (every
*.yaml and *.yml file directly in them), checking each binding against its
type's declaration and resolving secrets from the environment and the
secret stores defined alongside.`,
		Example: `  tether components validate components/local
  tether components list components --output json`,
		Args: cobra.ArbitraryArgs,
		// Without a Run, cobra would answer a misspelt subcommand with
		// the help and exit status 0.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			var names []string
			for _, c := range cmd.Commands() {
				names = append(names, c.Name())
			}
			return usageError(cmd, fmt.Sprintf("unknown command %q%s", args[0], suggest.Hint(args[0], names)))
		},
	}
	cmd.AddCommand(newComponentsListCommand(env), newComponentsValidateCommand(env))
	withUsageHint(cmd)
	return cmd
}

func newComponentsListCommand(env *Env) *cobra.Command {
	var output, appID string
	cmd := &cobra.Command{
		Use:   "list [folder]...",
		Short: "Print the bindings of component folders, with their effective settings",
		Long: `list loads the folders (default: components) and prints each binding: its
type, directions, file and line, its metadata with defaults applied, and for
inputs the effective delivery settings. Secret values are shown as ***.

With --output json it prints an array of objects with the fields name, type,
version, directions, file, line, metadata, secrets (the keys shown as ***),
route, scopes and, for inputs, delivery (durations in nanoseconds, as the
runtime's /v1.0/status shows them).`,
		Example: `  tether components list
  tether components list components/local
  tether components list components --output json | jq '.[].name'`,
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError(cmd, fmt.Sprintf("--output %q: want text or json", output))
			}
			// The good components are listed even when others have
			// problems (printed on stderr, and the exit status is 1).
			set, problems := loadComponents(env, args, appID, false, false)
			if set == nil {
				return problems
			}
			wd, err := env.workDir()
			if err != nil {
				return err
			}
			views := []componentView{}
			for _, c := range set.Components() {
				v := viewComponent(c)
				v.File = relative(wd, v.File)
				views = append(views, v)
			}
			if output == "json" {
				if err := writeJSON(env.Stdout, views); err != nil {
					return err
				}
			} else {
				writeComponentsText(env.Stdout, views)
			}
			return problems
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&appID, "app-id", "", "load only the components whose scopes include this app id (as TETHER_APP_ID does)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	withUsageHint(cmd)
	return cmd
}

func newComponentsValidateCommand(env *Env) *cobra.Command {
	var appID, output string
	var noSecrets bool
	cmd := &cobra.Command{
		Use:   "validate [folder]...",
		Short: "Check component folders and report every problem as file:line",
		Long: `validate loads the folders (default: components) as a function does at
start-up and reports every problem of every file, one per line as
file:line: message: YAML errors, unknown fields, unknown binding types and
metadata keys (with a suggestion), missing required keys, values of the
wrong kind, values the binding refuses when it opens (an SQS endpoint given
as a bare host, a URL that does not parse, a cron schedule), bad delivery
settings, duplicate names, dead-letter bindings that do not exist, secrets
that cannot be resolved, and binding types that a function's generated main
(cmd/*/main_gen.go beside the components folder) does not link yet.

With --no-secrets, secretKeyRef and envRef are not resolved (and no secret
store is opened), for CI jobs that check an environment whose secrets they
do not have; everything else is checked. With --output json it prints one
object: {"components": <count of good ones>, "problems": [{"file", "line",
"message"}]}.

Exit status: 0 when the folders are valid, 1 when there are problems.`,
		Example: `  tether components validate
  tether components validate components/local components/prod
  tether components validate components/prod --no-secrets --output json`,
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError(cmd, fmt.Sprintf("--output %q: want text or json", output))
			}
			if output == "json" {
				return validateJSON(env, args, appID, noSecrets)
			}
			set, err := loadComponents(env, args, appID, noSecrets, true)
			if err != nil {
				return err
			}
			n := len(set.Components())
			fmt.Fprintf(env.Stdout, "%s: %s, no problems\n", strings.Join(componentDirs(args), ", "), plural(n, "component"))
			return nil
		},
	}
	cmd.Flags().StringVar(&appID, "app-id", "", "load only the components whose scopes include this app id (as TETHER_APP_ID does)")
	cmd.Flags().BoolVar(&noSecrets, "no-secrets", false, "do not resolve secretKeyRef and envRef (CI without the secrets); check everything else")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	withUsageHint(cmd)
	return cmd
}

func componentDirs(args []string) []string {
	if len(args) == 0 {
		return []string{"components"}
	}
	return args
}

// loadComponents loads the folders. Its error, for invalid components, has
// already printed every problem on stderr; the set then holds the good
// components (nil for other errors).
func loadComponents(env *Env, args []string, appID string, unresolved, links bool) (*component.Set, error) {
	set, diags, err := loadDiagnosed(env, args, appID, unresolved, links)
	if err != nil {
		return nil, err
	}
	if len(diags) > 0 {
		for _, d := range diags {
			fmt.Fprintln(env.Stderr, d.Error())
		}
		return set, &ExitError{Code: 1, Err: fmt.Errorf("%s in %s\nfix them and validate again; tether bindings <type> lists the keys of a type", plural(len(diags), "problem"), strings.Join(componentDirs(args), ", "))}
	}
	return set, nil
}

// loadDiagnosed loads the folders and returns the good components and the
// problems, their files relative to the working folder. With links, a good
// component whose type the generated main of a function beside the folders
// does not link is a problem too (see unlinked).
func loadDiagnosed(env *Env, args []string, appID string, unresolved, links bool) (*component.Set, component.Diagnostics, error) {
	wd, err := env.workDir()
	if err != nil {
		return nil, nil, err
	}
	var dirs []string
	for _, d := range componentDirs(args) {
		dirs = append(dirs, absIn(wd, d))
	}
	set, err := component.Load(dirs, &component.Options{AppID: appID, Unresolved: unresolved})
	var diags component.Diagnostics
	if err != nil && !errors.As(err, &diags) {
		return set, nil, err
	}
	if links && set != nil {
		diags = append(diags, unlinked(dirs, set)...)
	}
	for i := range diags {
		diags[i].File = relative(wd, diags[i].File)
	}
	return set, diags, nil
}

// unlinked reports the components whose binding type the generated main of
// a function does not link: start-up would refuse them as an unknown type
// until go generate runs again. A function is the package that holds the
// folder named components (as go generate reads it), its mains
// cmd/*/main_gen.go there.
func unlinked(dirs []string, set *component.Set) component.Diagnostics {
	var diags component.Diagnostics
	seen := map[string]bool{}
	for _, dir := range dirs {
		pkg := functionDir(dir)
		if pkg == "" || seen[pkg] {
			continue
		}
		seen[pkg] = true
		mains, _ := filepath.Glob(filepath.Join(pkg, "cmd", "*", gen.MainFileName))
		for _, main := range mains {
			f, err := parser.ParseFile(token.NewFileSet(), main, nil, parser.ImportsOnly)
			if err != nil {
				continue // go build reports it
			}
			imported := map[string]bool{}
			for _, spec := range f.Imports {
				if p, err := strconv.Unquote(spec.Path.Value); err == nil {
					imported[p] = true
				}
			}
			for _, c := range set.Components() {
				if !strings.HasPrefix(c.File, pkg+string(filepath.Separator)) {
					continue
				}
				if driver, ok := gen.DriverPackage(c.Type); ok && !imported[driver] {
					diags = append(diags, component.Diagnostic{File: c.File, Line: c.Line,
						Msg: fmt.Sprintf("%s is not linked into %s, so %s would not start: run go generate ./...", c.Type, filepath.Base(filepath.Dir(main)), c.Name)})
				}
			}
		}
	}
	return diags
}

// functionDir returns the folder that holds the components folder dir is
// in (or is), or "" when dir is under no folder named components.
func functionDir(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if filepath.Base(d) == "components" {
			return filepath.Dir(d)
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// validateJSON is tether components validate --output json.
func validateJSON(env *Env, args []string, appID string, unresolved bool) error {
	set, diags, err := loadDiagnosed(env, args, appID, unresolved, true)
	if err != nil {
		return err
	}
	type problem struct {
		File    string `json:"file"`
		Line    int    `json:"line,omitempty"`
		Message string `json:"message"`
	}
	out := struct {
		Components int       `json:"components"`
		Problems   []problem `json:"problems"`
	}{Problems: []problem{}}
	if set != nil {
		out.Components = len(set.Components())
	}
	for _, d := range diags {
		out.Problems = append(out.Problems, problem{File: d.File, Line: d.Line, Message: d.Msg})
	}
	if err := writeJSON(env.Stdout, out); err != nil {
		return err
	}
	if len(diags) > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

// componentView is one component in tether components list --output json.
type componentView struct {
	Name         string                   `json:"name"`
	Type         string                   `json:"type"`
	Version      string                   `json:"version,omitempty"`
	Directions   []string                 `json:"directions"`
	File         string                   `json:"file"`
	Line         int                      `json:"line"`
	Metadata     map[string]string        `json:"metadata"`
	Secrets      []string                 `json:"secrets,omitempty"`
	Route        string                   `json:"route,omitempty"`
	Scopes       []string                 `json:"scopes,omitempty"`
	Delivery     *bindings.DeliveryPolicy `json:"delivery,omitempty"`
	InitTimeout  string                   `json:"initTimeout,omitempty"`
	IgnoreErrors bool                     `json:"ignoreErrors,omitempty"`
}

func viewComponent(c *component.Component) componentView {
	v := componentView{
		Name: c.Name, Type: c.Type, Version: c.Version, Directions: directions(c.Direction),
		File: c.File, Line: c.Line, Metadata: c.Redacted(), Route: c.Route, Scopes: c.Scopes,
		IgnoreErrors: c.IgnoreErrors,
	}
	for k, secret := range c.SecretKeys {
		if secret {
			v.Secrets = append(v.Secrets, k)
		}
	}
	slices.Sort(v.Secrets)
	if c.Direction.Has(bindings.DirInput) {
		d := c.Delivery
		v.Delivery = &d
	}
	if c.InitTimeout > 0 {
		v.InitTimeout = c.InitTimeout.String()
	}
	return v
}

func directions(d bindings.Direction) []string {
	var out []string
	if d.Has(bindings.DirInput) {
		out = append(out, "input")
	}
	if d.Has(bindings.DirOutput) {
		out = append(out, "output")
	}
	return out
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeComponentsText(w io.Writer, views []componentView) {
	if len(views) == 0 {
		fmt.Fprintln(w, "no components")
		return
	}
	for i, v := range views {
		if i > 0 {
			fmt.Fprintln(w)
		}
		typ := v.Type
		if v.Version != "" {
			typ += " " + v.Version
		}
		fmt.Fprintf(w, "%s  %s  %s  %s:%d\n", v.Name, typ, strings.Join(v.Directions, ", "), v.File, v.Line)
		keys := slices.Sorted(maps.Keys(v.Metadata))
		if len(keys) > 0 {
			fmt.Fprintln(w, "  metadata:")
			width := maxLen(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "    %-*s  %s\n", width, k, v.Metadata[k])
			}
		}
		if d := v.Delivery; d != nil {
			deadLetter := d.DeadLetter
			if deadLetter == "" {
				deadLetter = "(none: the broker keeps failed messages)"
			}
			fmt.Fprintln(w, "  delivery:")
			rows := [][2]string{
				{"maxConcurrency", fmt.Sprint(d.MaxConcurrency)},
				{"ordered", fmt.Sprint(d.Ordered)},
				{"batchSize", fmt.Sprint(d.BatchSize)},
				{"handlerTimeout", d.HandlerTimeout.String()},
				{"maxAttempts", fmt.Sprint(d.MaxAttempts)},
				{"retry backoff", fmt.Sprintf("%s, ×%g per attempt up to %s, jitter %g", d.InitialInterval, d.Multiplier, d.MaxInterval, d.Jitter)},
				{"deadLetter", deadLetter},
				{"leaseExtension", d.LeaseExtension.String()},
			}
			for _, r := range rows {
				fmt.Fprintf(w, "    %-14s  %s\n", r[0], r[1])
			}
		}
		if len(v.Scopes) > 0 {
			fmt.Fprintf(w, "  scopes: %s\n", strings.Join(v.Scopes, ", "))
		}
	}
}

func maxLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n = max(n, len(s))
	}
	return n
}

// completeDirs completes folder names.
func completeDirs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}
