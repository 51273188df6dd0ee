package scaffold

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/textwrap"
)

// Component is one component file of the new function, as the component
// templates see it: the component's name and role, its binding type and
// every metadata key that type declares, ready to write.
type Component struct {
	// Function is the function's name.
	Function string
	// Name is the component's metadata.name.
	Name string
	// Role is "trigger", "output" or "dead letter".
	Role string
	// Field is the Outputs field bound to an output; "" otherwise.
	Field string
	// Type is the binding type this file declares.
	Type *bindings.Type
	// Declared is the type of the component in components/: in a local
	// stand-in it differs from Type (bindings.memory stands in for it).
	Declared *bindings.Type
	// Local is true for the files of components/local/.
	Local bool
	// Direction is the value of the direction key: "input", "output" or
	// "input, output".
	Direction string
	// Keys are the type's own keys for Direction, then the generic keys
	// but direction (which the template writes itself).
	Keys []Key
	// Delivery holds the runtime's delivery keys, for input components.
	Delivery []Key
}

// Short is the type's name without "bindings.".
func (c *Component) Short() string { return ShortName(c.Type.Name) }

// Secrets are the keys of the component that are written as an envRef.
func (c *Component) Secrets() []Key {
	var out []Key
	for _, k := range c.Keys {
		if k.Active && k.Env != "" {
			out = append(out, k)
		}
	}
	return out
}

// Key is one metadata key of a component file.
type Key struct {
	bindings.MetadataKey
	// Component is the name of the component the key belongs to;
	// Function the name of the function.
	Component string
	Function  string
	// Active keys are written as entries; the others are commented out,
	// showing their default (or an example value).
	Active bool
	// Value is what the entry holds: the value set by the scaffold, the
	// default, or the example. Empty for secrets.
	Value string
	// Env is the environment variable a secret is read from (envRef);
	// "" for keys that are not secret.
	Env string
	// Comment is the key's description and facts (kind, default,
	// required...), wrapped into lines without the "# ".
	Comment []string
	// Entry is the YAML of the entry, one line per element, without
	// indentation or "# ".
	Entry []string
}

// Set returns the key made active with value v, for a type's own template
// that sets a key the generic one leaves to its default:
//
//	{{define "key"}}{{if eq .Name "stream"}}{{template "entry" (.Set .Component)}}{{else}}{{template "entry" .}}{{end}}{{end}}
func (k Key) Set(v string) Key {
	k.Active, k.Value, k.Env = true, v, ""
	k.Entry = []string{"- name: " + k.Name, "  value: " + yamlString(v)}
	return k
}

// commentWidth is how long a comment line's text gets.
const commentWidth = 74

// newComponent builds the view of one component file. set holds values
// the scaffold chooses (they make their keys active).
func newComponent(function, name, role string, typ, declared *bindings.Type, dir bindings.Direction, local bool, set map[string]string) *Component {
	c := &Component{
		Function: function, Name: name, Role: role, Type: typ, Declared: declared, Local: local,
		Direction: dirValue(dir),
	}
	for _, k := range typ.Metadata {
		if k.Ignored != "" {
			continue // Dapr's, accepted for its files; a new file has no use for it
		}
		if k.Direction == 0 || k.Direction&dir != 0 {
			c.Keys = append(c.Keys, makeKey(k, function, name, dir, set))
		}
	}
	for _, k := range bindings.GenericKeys {
		if k.Name == "direction" || k.Direction != 0 && k.Direction&dir == 0 {
			continue
		}
		c.Keys = append(c.Keys, makeKey(k, function, name, dir, set))
	}
	if dir.Has(bindings.DirInput) {
		for _, k := range typ.DeliveryKeys() {
			c.Delivery = append(c.Delivery, makeKey(k, function, name, dir, set))
		}
	}
	return c
}

func dirValue(d bindings.Direction) string {
	switch d {
	case bindings.DirInput:
		return "input"
	case bindings.DirOutput:
		return "output"
	}
	return "input, output"
}

func makeKey(k bindings.MetadataKey, function, component string, dir bindings.Direction, set map[string]string) Key {
	key := Key{MetadataKey: k, Component: component, Function: function}
	v, isSet := set[k.Name]
	key.Active = isSet || k.Required
	switch {
	case isSet:
		key.Value = v
	case k.Default != "":
		key.Value = k.Default
	default:
		key.Value = k.Example
	}
	key.Entry = []string{"- name: " + k.Name}
	if k.Secret && !isSet {
		key.Env = envName(component, k.Name)
		key.Value = ""
		key.Entry = append(key.Entry, "  envRef: "+key.Env)
	} else {
		key.Entry = append(key.Entry, "  value: "+yamlString(key.Value))
	}

	var facts []string
	kind := k.Kind.String()
	if k.Kind == bindings.KindEnum {
		kind += ": " + strings.Join(k.Enum, ", ")
	}
	facts = append(facts, kind)
	if k.Required {
		facts = append(facts, "required")
	}
	if k.Secret {
		facts = append(facts, "secret, from the environment variable "+envName(component, k.Name))
	}
	if k.Direction != 0 && dir == bindings.DirBoth && k.Direction != bindings.DirBoth {
		facts = append(facts, k.Direction.String()+" only")
	}
	switch {
	case k.Default != "":
		facts = append(facts, "default "+k.Default)
	case k.Example != "":
		facts = append(facts, "e.g. "+k.Example)
	}
	text := strings.TrimSpace(k.Description)
	if text != "" && !strings.HasSuffix(text, ".") {
		text += "."
	}
	key.Comment = textwrap.Lines(k.Name+": "+text+" ("+strings.Join(facts, "; ")+")", commentWidth)
	return key
}

// yamlString quotes s as a YAML double-quoted scalar (JSON's string syntax
// is a subset of it), so that no value is read as a number, a boolean or
// YAML syntax.
func yamlString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
