package bindings

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/tetherfn/tether/internal/redact"
)

// Direction says whether a binding type, a component or a metadata key is used
// for input (triggering functions), output (invoked by functions) or both.
type Direction uint8

const (
	DirInput  Direction = 1 << iota // triggers functions
	DirOutput                       // invoked by functions
	DirBoth   = DirInput | DirOutput
)

// Has reports whether d includes every direction of o.
func (d Direction) Has(o Direction) bool { return d&o == o }

func (d Direction) String() string {
	switch d {
	case DirInput:
		return "input"
	case DirOutput:
		return "output"
	case DirBoth:
		return "input, output"
	}
	return "none"
}

// ParseDirection parses Dapr's "direction" metadata value: "input", "output"
// or both separated by a comma.
func ParseDirection(s string) (Direction, error) {
	var d Direction
	for _, part := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "input":
			d |= DirInput
		case "output":
			d |= DirOutput
		default:
			return 0, fmt.Errorf("direction %q: want input, output or \"input, output\"", s)
		}
	}
	return d, nil
}

// Type declares a binding type. The declaration is the one source for metadata
// validation, the CLI's reference output and the scaffold templates.
type Type struct {
	// Name is the Dapr type name, e.g. "bindings.aws.sqs".
	Name string
	// Aliases are other accepted names, e.g. "bindings.mqtt" for "bindings.mqtt3".
	Aliases []string
	// Version is the component spec.version this driver implements, e.g. "v1".
	Version string
	// Summary is one line for listings.
	Summary string
	// Directions the type supports.
	Directions Direction
	// Metadata declares every key a component of this type may set, besides
	// the generic ones (direction, route) and the runtime's delivery keys.
	Metadata []MetadataKey
	// Operations the output supports.
	Operations []Operation
	// Capabilities of the input.
	Capabilities Capabilities
	// InputMetadata documents the Message.Metadata keys the input sets.
	InputMetadata []MetadataKey
	// DeliveryDefaults, when set, replaces the defaults of some delivery
	// keys (DeliveryKeys) for components of this type: the value a broker
	// does best with, chosen by measurement, e.g. {"batchSize": "100"}
	// where one read of 100 costs little more than one of 10. Keys and
	// values are checked by Register; DeliveryKeys returns the result.
	DeliveryDefaults map[string]string
	// Upgrade, when set, rewrites metadata keys Dapr deprecated into those
	// that replace them, before validation, as Dapr's component does (Kafka's
	// authRequired becomes authType). It gets a copy of the values with their
	// names as written and returns the values to validate.
	Upgrade func(values map[string]string) map[string]string

	// Check, when set, checks cfg as NewInput (dir DirInput) or NewOutput
	// (DirOutput) does before it opens anything, without any I/O: the values
	// that pass their Kind and that the driver still refuses (an endpoint
	// given as a bare host, a URL that does not parse). A *KeyError names
	// the key. tether components validate runs it (through CheckSettings),
	// so that it reports at file:line what start-up would refuse.
	Check func(cfg Config, dir Direction) error

	// NewInput opens an input; nil when Directions lacks DirInput. ctx
	// bounds the opening only (spec.initTimeout): it is cancelled once
	// NewInput returns, so the driver must not keep it for its lifetime.
	NewInput func(ctx context.Context, cfg Config) (Input, error)
	// NewOutput opens an output; nil when Directions lacks DirOutput. ctx
	// bounds the opening only, as for NewInput.
	NewOutput func(ctx context.Context, cfg Config) (Output, error)
}

// DeliveryKeys returns the delivery keys of t's input components:
// bindings.DeliveryKeys with t's DeliveryDefaults in place of their
// defaults.
func (t *Type) DeliveryKeys() []MetadataKey {
	if len(t.DeliveryDefaults) == 0 {
		return DeliveryKeys
	}
	keys := slices.Clone(DeliveryKeys)
	for i, k := range keys {
		if v, ok := t.DeliveryDefaults[k.Name]; ok {
			keys[i].Default = v
		}
	}
	return keys
}

// Supports reports whether the output has operation op.
func (t *Type) Supports(op Operation) bool { return slices.Contains(t.Operations, op) }

// Config is what a driver is opened with.
type Config struct {
	// Name is the component's metadata.name.
	Name string
	// Type is the binding type name, e.g. "bindings.memory" (an alias is fine).
	Type string
	// Metadata holds the component's metadata values, secrets already
	// resolved. OpenInput and OpenOutput validate and normalise it; drivers
	// read it through Values.
	Metadata map[string]string
	// Logger is never nil once the driver sees it. OpenInput and
	// OpenOutput hand the driver a logger that redacts every secret of the
	// component (see Secrets), for the driver's own lines and its client
	// library's.
	Logger *slog.Logger
	// Secrets are values that must never be shown besides those OpenInput
	// and OpenOutput find themselves (the values of keys the type declares
	// Secret, and the password of every URL in any value): the component
	// loader sets the values it resolved from secretKeyRef and envRef.
	Secrets []string

	values Metadata
	redact *redact.Redactor
}

// SecretValues returns the values of metadata that must never be shown:
// extra (values resolved from secret stores), the values of keys t declares
// Secret, and the password of every URL written in any value. Keys are
// matched case-insensitively, as Validate does.
func SecretValues(t *Type, metadata map[string]string, extra ...string) []string {
	out := slices.Clone(extra)
	for k, v := range metadata {
		if t != nil {
			if i := slices.IndexFunc(t.Metadata, func(mk MetadataKey) bool { return strings.EqualFold(mk.Name, k) }); i >= 0 && t.Metadata[i].Secret {
				out = append(out, v)
			}
		}
		out = append(out, redact.Find(v)...)
	}
	return out
}

// Redact returns s with every secret of the component replaced by "***",
// for drivers that route a client library's process-wide log to Logger
// (which redacts on its own). Only meaningful inside NewInput/NewOutput.
func (c Config) Redact(s string) string { return c.redact.String(s) }

// Values returns the validated metadata with typed getters. Only meaningful
// inside a driver's NewInput/NewOutput.
func (c Config) Values() Metadata { return c.values }

var registry = struct {
	sync.RWMutex
	byName map[string]*Type
	types  []*Type
}{byName: map[string]*Type{}}

// Register adds a binding type. It panics on a programming error (empty name,
// duplicate name, missing constructor for a declared direction), as
// database/sql.Register does, because it runs from init.
func Register(t Type) {
	if t.Name == "" {
		panic("bindings: Register with empty type name")
	}
	if t.Directions.Has(DirInput) != (t.NewInput != nil) || t.Directions.Has(DirOutput) != (t.NewOutput != nil) {
		panic("bindings: " + t.Name + ": constructors do not match declared directions")
	}
	for name, v := range t.DeliveryDefaults {
		i := slices.IndexFunc(DeliveryKeys, func(k MetadataKey) bool { return k.Name == name })
		if i < 0 {
			panic("bindings: " + t.Name + ": DeliveryDefaults names " + name + ", which is not a delivery key")
		}
		if err := DeliveryKeys[i].Check(v); err != nil {
			panic("bindings: " + t.Name + ": DeliveryDefaults " + name + ": " + err.Error())
		}
	}
	registry.Lock()
	defer registry.Unlock()
	p := &t
	for _, n := range append([]string{t.Name}, t.Aliases...) {
		if _, dup := registry.byName[n]; dup {
			panic("bindings: Register called twice for " + n)
		}
		registry.byName[n] = p
	}
	registry.types = append(registry.types, p)
	sort.Slice(registry.types, func(i, j int) bool { return registry.types[i].Name < registry.types[j].Name })
}

// Lookup finds a registered type by name or alias.
func Lookup(name string) (*Type, bool) {
	registry.RLock()
	defer registry.RUnlock()
	t, ok := registry.byName[name]
	return t, ok
}

// Types lists the registered types, sorted by name.
func Types() []*Type {
	registry.RLock()
	defer registry.RUnlock()
	return slices.Clone(registry.types)
}

// TypeNames lists every registered name and alias, for suggestions.
func TypeNames() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.byName))
	for n := range registry.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// OpenInput validates cfg against its type's declaration and opens the input.
func OpenInput(ctx context.Context, cfg Config) (Input, *Type, error) {
	t, err := prepare(&cfg, DirInput)
	if err != nil {
		return nil, nil, err
	}
	in, err := t.NewInput(ctx, cfg)
	if err != nil {
		return nil, nil, wrap(cfg.Name, t.Name, "open input", cfg.redact.Error(err))
	}
	return in, t, nil
}

// OpenOutput validates cfg against its type's declaration and opens the output.
func OpenOutput(ctx context.Context, cfg Config) (Output, *Type, error) {
	t, err := prepare(&cfg, DirOutput)
	if err != nil {
		return nil, nil, err
	}
	out, err := t.NewOutput(ctx, cfg)
	if err != nil {
		return nil, nil, wrap(cfg.Name, t.Name, "open output", cfg.redact.Error(err))
	}
	return &checkedOutput{name: cfg.Name, typ: t, out: out, redact: cfg.redact}, t, nil
}

// CheckSettings runs t's Check, when it has one, on values (checked by
// Validate already, names as written) for each direction of dir: what
// opening the component would refuse before any I/O. name is the
// component's name.
func CheckSettings(t *Type, name string, values map[string]string, dir Direction) error {
	if t.Check == nil {
		return nil
	}
	for _, d := range []Direction{DirInput, DirOutput} {
		if !dir.Has(d) || !t.Directions.Has(d) {
			continue
		}
		md, problems := Validate(t, values, d)
		if len(problems) > 0 {
			return problems[0]
		}
		if err := t.Check(Config{Name: name, Type: t.Name, Metadata: values, values: md}, d); err != nil {
			return err
		}
	}
	return nil
}

func prepare(cfg *Config, dir Direction) (*Type, error) {
	t, ok := Lookup(cfg.Type)
	if !ok {
		return nil, &Error{Binding: cfg.Name, Type: cfg.Type, Op: "open", Err: UnknownTypeError(cfg.Type)}
	}
	if !t.Directions.Has(dir) {
		return nil, &Error{Binding: cfg.Name, Type: t.Name, Op: "open", Err: fmt.Errorf("type has no %s direction", dir)}
	}
	// Every error and log line about this component from here on goes
	// through one redactor: no driver has to know which of its messages, or
	// of its client library's, may quote a secret.
	cfg.redact = redact.New(SecretValues(t, cfg.Metadata, cfg.Secrets...)...)
	values, problems := Validate(t, cfg.Metadata, dir)
	if len(problems) > 0 {
		errs := make([]error, len(problems))
		for i, p := range problems {
			errs[i] = cfg.redact.Error(p)
		}
		return nil, &Error{Binding: cfg.Name, Type: t.Name, Op: "open", Err: joinErrors(errs)}
	}
	cfg.values = values
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = slog.New(cfg.redact.Handler(cfg.Logger.Handler())).With("binding", cfg.Name, "type", t.Name)
	return t, nil
}
