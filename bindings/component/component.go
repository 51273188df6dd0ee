package component

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/redact"
)

// Component is one loaded binding component: its Dapr fields, its validated
// metadata with secrets resolved, and where it was written.
type Component struct {
	Name      string // metadata.name
	Namespace string // metadata.namespace, as written (not used for lookup)
	Type      string // spec.type as written (may be an alias)
	Version   string // spec.version as written

	Binding   *bindings.Type     // the registered type
	Direction bindings.Direction // from the "direction" key, else all the type supports
	// Route is the HTTP path an app receives this input on in polyglot mode
	// ("route" key, default "/<name>"); "" for output-only components.
	Route string

	// Metadata holds the resolved values under the declared key names, with
	// defaults applied. It includes secret values: show Redacted instead.
	Metadata map[string]string
	// SecretKeys are the keys of Metadata whose values must never be shown:
	// those from a secret store or envRef and those the type declares
	// Secret.
	SecretKeys map[string]bool
	// Delivery holds the effective delivery settings of an input component;
	// it is the zero value for output-only components.
	Delivery bindings.DeliveryPolicy

	InitTimeout  time.Duration // spec.initTimeout; 0 when unset (the runtime's default applies)
	IgnoreErrors bool          // spec.ignoreErrors: start even when the binding fails to open
	Scopes       []string      // app ids that may use the component; empty means all
	SecretStore  string        // auth.secretStore; "" means the environment
	// Warnings are the metadata keys Dapr accepts that Tether ignores, each
	// with why; Load logs them.
	Warnings []Diagnostic

	// Refs says where each metadata value that is not written in the file
	// comes from, by key: a secretKeyRef or an envRef (never the value).
	Refs map[string]Ref

	File string // the file it was read from
	Line int    // the line its document starts on
	// Source is the component's document as written in File, secret
	// references unresolved.
	Source []byte
}

// Ref is where a metadata value comes from when it is not written in the
// component file: a secret of the component's secret store, or an
// environment variable. It holds names only.
type Ref struct {
	Secret string // secretKeyRef.name; "" for an envRef
	Key    string // secretKeyRef.key as written; "" when not written
	Env    string // envRef
}

// Store is a secret store component as written: the secret stores of a
// folder are used while loading, and kept in the Set for tools that
// describe an environment (such as tether deploy).
type Store struct {
	Name     string
	Type     string            // secretstores.local.env, .file or .directory
	Metadata map[string]string // as written; envRef values are not resolved
	File     string
	Line     int
	Source   []byte // the document as written
}

// Redacted returns a copy of Metadata with every secret value replaced by
// "***", and the password of every URL in the other values too, for logs,
// listings and the dashboard.
func (c *Component) Redacted() map[string]string {
	r := redact.New(c.Secrets()...)
	out := maps.Clone(c.Metadata)
	for k, v := range out {
		if c.SecretKeys[k] {
			out[k] = redact.Mask
		} else {
			out[k] = r.String(v)
		}
	}
	return out
}

// Secrets returns every value of the component that must never be shown:
// the values of SecretKeys (resolved from a secret store or envRef, or
// declared Secret by the type) and the password of every URL written in
// any value. Errors and log lines of the component's binding, of the
// runtime and of the command line have these replaced by "***".
func (c *Component) Secrets() []string {
	var vals []string
	for k := range c.SecretKeys {
		vals = append(vals, c.Metadata[k])
	}
	return bindings.SecretValues(c.Binding, c.Metadata, vals...)
}

// Config returns what bindings.OpenInput and bindings.OpenOutput take to
// open this component; its Secrets make the binding's errors and logger
// redact them.
func (c *Component) Config(logger *slog.Logger) bindings.Config {
	return bindings.Config{Name: c.Name, Type: c.Type, Metadata: maps.Clone(c.Metadata), Logger: logger, Secrets: c.Secrets()}
}

// Set is the binding components of one environment, in file and line
// order. Secret stores are used while loading and are not part of it.
type Set struct {
	components []*Component
	byName     map[string]*Component
	stores     map[string]*Store
}

// Components returns the components in file, then line order.
func (s *Set) Components() []*Component { return slices.Clone(s.components) }

// Secrets returns the Secrets of every component of the set, for the
// runtime to redact its own logs, errors and dead letters: a handler's
// error may quote any binding's.
func (s *Set) Secrets() []string {
	var out []string
	for _, c := range s.components {
		out = append(out, c.Secrets()...)
	}
	return out
}

// Get returns the component called name.
func (s *Set) Get(name string) (*Component, bool) {
	c, ok := s.byName[name]
	return c, ok
}

// Store returns the secret store called name, when the folders define one
// Tether reads.
func (s *Set) Store(name string) (*Store, bool) {
	st, ok := s.stores[name]
	return st, ok
}

// Options tune Load. A nil *Options is valid.
type Options struct {
	// AppID, when set, skips components whose scopes do not include it.
	AppID string
	// Logger receives one info line per skipped resource. Nil discards.
	Logger *slog.Logger
	// LookupEnv reads environment variables for envRef and the env secret
	// store. Nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Unresolved leaves secretKeyRef and envRef unresolved, as Parse does
	// (their keys are in SecretKeys and Refs, with "" in Metadata), and opens
	// no secret store: for tools that describe an environment whose secrets
	// live elsewhere, such as tether deploy. Everything else is checked.
	Unresolved bool
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.LookupEnv == nil {
		out.LookupEnv = os.LookupEnv
	}
	return out
}

// Load reads every *.yaml and *.yml file of the folders (not their
// sub-folders), validates each binding component against its registered
// type, resolves secrets through the secret stores defined alongside, and
// checks references between components. Resources Tether does not load
// (other kinds, other building blocks, components scoped to other apps) are
// skipped with an info line each.
//
// The error, when not nil, is Diagnostics holding every problem found in
// every file; the Set then holds only the bindings that loaded, for tools
// that show what is good beside what is not (tether components list). A
// runtime must not start on it. A missing folder is an error; an empty one
// gives an empty Set.
func Load(dirs []string, opts *Options) (*Set, error) {
	o := opts.withDefaults()
	var diags Diagnostics
	var docs []*document
	seen := map[string]bool{}
	for _, dir := range dirs {
		if seen[filepath.Clean(dir)] {
			continue
		}
		seen[filepath.Clean(dir)] = true
		files, err := componentFiles(dir)
		if err != nil {
			diags = append(diags, Diagnostic{File: dir, Msg: err.Error()})
			continue
		}
		for _, f := range files {
			data, err := readFile(f, MaxFileSize)
			if err != nil {
				msg := "cannot read: " + err.Error()
				if hint := fileSizeHint(err); hint != "" {
					msg = err.Error() + hint
				}
				diags = append(diags, Diagnostic{File: f, Msg: msg})
				continue
			}
			ds, fileDiags := parseFile(f, data)
			diags = append(diags, fileDiags...)
			docs = append(docs, ds...)
		}
	}
	vars := &templateVars{appID: o.AppID, lookupEnv: o.LookupEnv}
	l := &loader{builder: builder{diags: diags, vars: vars}, opts: o}
	set := l.load(docs)
	return set, l.diags.err()
}

// MaxFileSize bounds a component file (1 MiB, the most a Kubernetes
// ConfigMap or Secret holds), so that a path naming something huge or
// endless fails with a clear error instead of filling the memory.
const MaxFileSize = 1 << 20

// fileSizeHint completes the message of a file over MaxFileSize.
func fileSizeHint(err error) string {
	if _, ok := err.(*tooLargeError); ok {
		return " (component files are limited to 1 MiB: split the components over several files)"
	}
	return ""
}

// componentFiles lists the component files of dir, sorted by name.
func componentFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if fi, statErr := os.Stat(dir); statErr == nil && !fi.IsDir() {
			return nil, fmt.Errorf("is not a folder of components")
		}
		return nil, fmt.Errorf("components folder %s", describeFSError(err))
	}
	var files []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if ext != ".yaml" && ext != ".yml" {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() { // follows symlinks, as kubelet's mounts use them
			files = append(files, p)
		}
	}
	return files, nil // os.ReadDir sorts by name
}

// Parse checks the content of one component file on its own: its YAML, the
// structure of each component, binding types, metadata keys and literal
// values, directions and delivery settings. It never reads the filesystem
// or the environment, so values from secretKeyRef and envRef stay
// unresolved (their keys are in SecretKeys, with "" in Metadata), and the
// checks that need every file (duplicate names, secret store references,
// deadLetter targets) are left to Load.
//
// The error, when not nil, is Diagnostics; the components are then nil.
func Parse(file string, data []byte) ([]*Component, error) {
	if len(data) > MaxFileSize {
		err := &tooLargeError{MaxFileSize}
		return nil, Diagnostics{{File: file, Msg: err.Error() + fileSizeHint(err)}}
	}
	docs, diags := parseFile(file, data)
	b := &builder{diags: diags}
	var out []*Component
	for _, d := range docs {
		b.diags = append(b.diags, d.diags...)
		switch d.class {
		case classBinding:
			if c, _ := b.binding(d, nil, "its secret store"); c != nil {
				out = append(out, c)
			}
		case classStore:
			b.store(d, nil)
		}
	}
	if err := b.diags.err(); err != nil {
		return nil, err
	}
	return out, nil
}
