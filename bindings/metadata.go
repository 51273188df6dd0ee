package bindings

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tetherfn/tether/internal/suggest"
)

// Kind is the type of a metadata value, checked when a component is loaded.
type Kind uint8

const (
	KindString   Kind = iota
	KindInt           // a base-10 integer
	KindBool          // true/false (also 1/0, yes/no... as strconv.ParseBool)
	KindDuration      // Go duration ("1.5s", "2m") or plain seconds ("30")
	KindFloat         // a decimal number
	KindEnum          // one of MetadataKey.Enum (case-insensitive)
)

func (k Kind) String() string {
	return [...]string{"string", "int", "bool", "duration", "float", "enum"}[k]
}

// MetadataKey declares one component metadata key of a binding type.
type MetadataKey struct {
	Name        string
	Kind        Kind
	Enum        []string // allowed values when Kind is KindEnum
	Required    bool
	Default     string // applied when the key is absent; "" for none
	Description string
	Direction   Direction // where the key applies; 0 means both
	Secret      bool      // should come from a secret store; never shown
	Example     string    // a value for scaffolds when there is no default
	// Aliases are other names Dapr accepts for the key, such as the
	// deprecated "url" for PostgreSQL's "connectionString". A value written
	// under an alias is stored under Name.
	Aliases []string
	// Ignored, when set, marks a key Dapr's component accepts and Tether
	// does not use, and says why ("Azure AD authentication is not
	// implemented"). Such a key is accepted with a warning and its value is
	// dropped, so that Dapr's component files load unchanged.
	Ignored string
}

// matches reports whether written names the key or one of its aliases, as
// Dapr matches: case-insensitively.
func (k MetadataKey) matches(written string) bool {
	return strings.EqualFold(k.Name, written) || containsFold(k.Aliases, written)
}

func (k MetadataKey) appliesTo(d Direction) bool {
	return k.Direction == 0 || k.Direction&d != 0
}

// Check reports whether v is a valid value of the key.
func (k MetadataKey) Check(v string) error {
	switch k.Kind {
	case KindInt:
		if _, err := strconv.Atoi(strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
	case KindBool:
		if _, err := strconv.ParseBool(strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", v)
		}
	case KindDuration:
		if _, err := ParseDuration(v); err != nil {
			return err
		}
	case KindFloat:
		if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
	case KindEnum:
		for _, e := range k.Enum {
			if strings.EqualFold(e, strings.TrimSpace(v)) {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s%s", v, strings.Join(k.Enum, ", "), suggest.Hint(v, k.Enum))
	}
	return nil
}

// ParseDuration accepts a Go duration ("500ms", "1m30s") or, as Dapr does for
// many keys, a plain number of seconds ("30").
func ParseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 500ms, 30s, 5m)", v)
	}
	return d, nil
}

// Generic keys every component may set, as in Dapr.
var GenericKeys = []MetadataKey{
	{Name: "direction", Kind: KindString, Description: `Which way the component is used: "input", "output" or "input, output". Default: every direction the type supports.`},
	{Name: "route", Kind: KindString, Direction: DirInput, Description: "The HTTP path an app receives this input on in polyglot mode. Default: /<component name>."},
}

// KeyError is a problem with one metadata key of a component.
type KeyError struct {
	Key string // the key as written ("" when the problem is a missing key)
	Msg string
}

func (e *KeyError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return fmt.Sprintf("metadata %q: %s", e.Key, e.Msg)
}

// UnknownTypeError is the error for a binding type that is not registered; its
// message suggests the closest registered name.
func UnknownTypeError(name string) error {
	return fmt.Errorf("unknown binding type %q%s", name, suggest.Hint(name, TypeNames()))
}

// Keys returns every key a component of type t may set for direction dir:
// the type's own, the generic keys and, for inputs, the delivery keys
// (with the type's DeliveryDefaults).
func (t *Type) Keys(dir Direction) []MetadataKey {
	var keys []MetadataKey
	for _, k := range t.Metadata {
		if k.appliesTo(dir) {
			keys = append(keys, k)
		}
	}
	keys = append(keys, GenericKeys...)
	if dir&DirInput != 0 && t.Directions.Has(DirInput) {
		keys = append(keys, t.DeliveryKeys()...)
	}
	return keys
}

// Validate checks values against t's declaration for direction dir: unknown
// keys (with a suggestion), missing required keys and values of the wrong
// kind. It returns every problem, not just the first, and the normalised
// metadata (keys matched case-insensitively, as Dapr does, and defaults
// applied).
func Validate(t *Type, values map[string]string, dir Direction) (Metadata, []*KeyError) {
	if t.Upgrade != nil {
		values = t.Upgrade(maps.Clone(values))
	}
	keys := t.Keys(dir)
	// A component used for one direction may still carry the other
	// direction's keys (one file, "input, output"); accept them too.
	all := t.Keys(t.Directions)
	names := make([]string, len(all))
	for i, k := range all {
		names[i] = k.Name
	}
	// Sort input keys so that problems come out in a stable order.
	written := make([]string, 0, len(values))
	for k := range values {
		written = append(written, k)
	}
	slices.Sort(written)

	md := Metadata{values: make(map[string]string, len(keys)), keys: keys}
	var problems []*KeyError
	writtenAs := map[string]string{} // canonical name → name as written
	for _, w := range written {
		i := slices.IndexFunc(all, func(k MetadataKey) bool { return k.matches(w) })
		if i < 0 {
			problems = append(problems, &KeyError{Key: w, Msg: "unknown key for " + t.Name + suggest.Hint(w, names)})
			continue
		}
		k := all[i]
		if first, dup := writtenAs[k.Name]; dup {
			problems = append(problems, &KeyError{Key: w, Msg: fmt.Sprintf("is another name for %q, already set as %q", k.Name, first)})
			continue
		}
		writtenAs[k.Name] = w
		if k.Ignored != "" {
			md.ignored = append(md.ignored, &KeyError{Key: w, Msg: "accepted and ignored: " + k.Ignored})
			continue
		}
		v := values[w]
		if err := k.Check(v); err != nil {
			problems = append(problems, &KeyError{Key: w, Msg: err.Error()})
			continue
		}
		md.values[k.Name] = v
	}
	for _, k := range keys {
		if _, ok := md.values[k.Name]; ok {
			continue
		}
		if k.Required {
			if _, set := writtenAs[k.Name]; !set { // not merely invalid: missing
				problems = append(problems, &KeyError{Msg: fmt.Sprintf("missing required metadata %q (%s)", k.Name, k.Description)})
			}
			continue
		}
		if k.Default != "" {
			md.values[k.Name] = k.Default
		}
	}
	return md, problems
}

// MissingRequired reports whether values (names as written, matched as
// Dapr matches) lack a key that direction dir of t requires.
func MissingRequired(t *Type, values map[string]string, dir Direction) bool {
	if t.Upgrade != nil {
		values = t.Upgrade(maps.Clone(values))
	}
	for _, k := range t.Keys(dir) {
		if !k.Required || k.Direction == 0 {
			continue
		}
		if !slices.ContainsFunc(slices.Collect(maps.Keys(values)), k.matches) {
			return true
		}
	}
	return false
}

// LookupFold returns the entry of values whose name matches key
// case-insensitively, as Dapr reads metadata: the name as written and its
// value.
func LookupFold(values map[string]string, key string) (name, value string, ok bool) {
	if v, ok := values[key]; ok {
		return key, v, true
	}
	for n, v := range values {
		if strings.EqualFold(n, key) {
			return n, v, true
		}
	}
	return "", "", false
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// Metadata is a component's validated metadata with defaults applied. Its
// getters never fail: Validate already checked every value's kind, so a
// getter called for a key of another kind returns the zero value.
type Metadata struct {
	values  map[string]string
	keys    []MetadataKey
	ignored []*KeyError
}

// Ignored lists the keys that were written, accepted and dropped because
// Tether does not use them (MetadataKey.Ignored), each with the reason.
func (m Metadata) Ignored() []*KeyError { return m.ignored }

// NewMetadata builds Metadata from already-valid values, for tests and for
// drivers that open sub-bindings.
func NewMetadata(values map[string]string) Metadata { return Metadata{values: values} }

// Has reports whether the key has a value (set or defaulted).
func (m Metadata) Has(key string) bool { _, ok := m.values[key]; return ok }

// String returns the value of key, "" when it has none.
func (m Metadata) String(key string) string { return m.values[key] }

// Int returns the integer value of key, 0 when it has none.
func (m Metadata) Int(key string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(m.values[key]))
	return n
}

// Bool returns the boolean value of key, false when it has none.
func (m Metadata) Bool(key string) bool {
	b, _ := strconv.ParseBool(strings.TrimSpace(m.values[key]))
	return b
}

// Float returns the numeric value of key, 0 when it has none.
func (m Metadata) Float(key string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSpace(m.values[key]), 64)
	return f
}

// Duration returns the duration value of key, 0 when it has none.
func (m Metadata) Duration(key string) time.Duration {
	d, _ := ParseDuration(m.values[key])
	return d
}

// Map returns a copy of all values.
func (m Metadata) Map() map[string]string {
	out := make(map[string]string, len(m.values))
	for k, v := range m.values {
		out[k] = v
	}
	return out
}

func joinErrors(errs []error) error { return errors.Join(errs...) }
