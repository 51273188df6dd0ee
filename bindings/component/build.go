package component

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/redact"
	"github.com/tetherfn/tether/internal/suggest"
)

// builder turns documents into components and opened secret stores,
// collecting diagnostics. Used alone it checks documents one by one
// (Parse); loader adds what needs every file.
type builder struct {
	diags Diagnostics
	// vars expands Dapr's template values in metadata; nil leaves them as
	// written (Parse, which never reads the environment).
	vars *templateVars
}

func (b *builder) add(file string, line int, format string, args ...any) {
	b.diags = append(b.diags, Diagnostic{File: file, Line: max(line, 1), Msg: fmt.Sprintf(format, args...)})
}

// resolver returns the value of a metadata entry that comes from a secret
// store or envRef, reporting why when it cannot.
type resolver func(e *entry) (string, bool)

// metadataValues is a document's spec.metadata ready for validation.
type metadataValues struct {
	values     map[string]string // written name → value (a placeholder when unresolved)
	written    map[string]*entry // written name → entry
	unresolved map[string]bool   // written names whose value is a placeholder
}

// collect gathers d's metadata entries, resolving secrets with res (nil
// leaves them unresolved). Unresolved and malformed values get a
// placeholder valid for their key, so that validation still checks the
// other keys and does not call them missing.
func (b *builder) collect(d *document, keys []bindings.MetadataKey, res resolver) metadataValues {
	mv := metadataValues{values: map[string]string{}, written: map[string]*entry{}, unresolved: map[string]bool{}}
	first := map[string]*entry{}
	for _, e := range d.entries {
		low := strings.ToLower(e.name) // Dapr matches names case-insensitively
		if f := first[low]; f != nil {
			b.add(d.file, e.nameLine, "metadata %q is set twice (first on line %d)", e.name, f.nameLine)
			continue
		}
		first[low] = e
		mv.written[e.name] = e
		v, ok := e.value, true
		switch {
		case e.broken:
			ok = false
		case e.source != fromValue:
			if res == nil {
				ok = false
			} else {
				v, ok = res(e)
			}
		}
		if ok && b.vars != nil {
			var err error
			if v, err = b.vars.expand(v); err != nil {
				b.add(d.file, e.line, "metadata %q: %v", e.name, err)
				ok = false
			}
		}
		if !ok {
			v = placeholder(keys, e.name)
			mv.unresolved[e.name] = true
		}
		mv.values[e.name] = v
	}
	return mv
}

// entryFold returns the entry written for key, matched as Dapr matches.
func (mv metadataValues) entryFold(key string) *entry {
	if e, ok := mv.written[key]; ok {
		return e
	}
	for name, e := range mv.written {
		if strings.EqualFold(name, key) {
			return e
		}
	}
	return nil
}

// placeholder is a value valid for the key, standing in for one that is not
// known.
func placeholder(keys []bindings.MetadataKey, name string) string {
	k, ok := findKey(keys, name)
	if !ok {
		return ""
	}
	for _, v := range []string{k.Default, k.Example} {
		if v != "" && k.Check(v) == nil {
			return v
		}
	}
	switch k.Kind {
	case bindings.KindInt, bindings.KindFloat:
		return "1"
	case bindings.KindBool:
		return "false"
	case bindings.KindDuration:
		return "1s"
	case bindings.KindEnum:
		if len(k.Enum) > 0 {
			return k.Enum[0]
		}
	}
	return ""
}

// keyProblem reports a validation problem on the line of the key it is
// about, without ever quoting a value that came from a secret.
func (b *builder) keyProblem(d *document, keys []bindings.MetadataKey, mv metadataValues, p *bindings.KeyError, store string) {
	if p.Key == "" { // a missing key
		if !d.incomplete {
			b.add(d.file, firstLine(d.metadataLine, d.specLine, d.line), "%s", p.Msg)
		}
		return
	}
	e := mv.written[p.Key]
	k, declared := findKey(keys, p.Key)
	switch {
	case e == nil:
		b.add(d.file, firstLine(d.metadataLine, d.specLine, d.line), "%s", p.Error())
	case !declared:
		b.add(d.file, e.nameLine, "%s", p.Error())
	case e.source != fromValue:
		want := "a valid " + k.Kind.String()
		if k.Kind == bindings.KindEnum {
			want = "one of " + strings.Join(k.Enum, ", ")
		}
		b.add(d.file, e.line, "metadata %q: the value from %s is not %s", e.name, e.describe(store), want)
	default:
		b.add(d.file, e.line, "%s", p.Error())
	}
}

// check reports what the driver's open would refuse before any I/O (its
// Type.Check), on the line of the key it is about. An unresolved value (a
// secret not looked up) stands in as a non-empty placeholder, and a problem
// with such a key is not reported: its real value is not known.
func (b *builder) check(d *document, t *bindings.Type, keys []bindings.MetadataKey, mv metadataValues, dir bindings.Direction, store string) {
	values := maps.Clone(mv.values)
	for name := range mv.unresolved {
		if values[name] == "" {
			values[name] = "unresolved"
		}
	}
	err := bindings.CheckSettings(t, d.name.value, values, dir)
	if err == nil {
		return
	}
	var ke *bindings.KeyError
	if !errors.As(err, &ke) {
		b.add(d.file, d.line, "%s", err)
		return
	}
	if e := mv.entryFold(ke.Key); e != nil {
		if mv.unresolved[e.name] {
			return
		}
		ke = &bindings.KeyError{Key: e.name, Msg: ke.Msg} // as written, for its line
	}
	b.keyProblem(d, keys, mv, ke, store)
}

func firstLine(lines ...int) int {
	for _, l := range lines {
		if l > 0 {
			return l
		}
	}
	return 1
}

// binding builds the component of a binding document. res resolves
// secret-sourced values (nil: leave them unresolved); store names the
// document's secret store in messages. ok is false when d had any problem.
func (b *builder) binding(d *document, res resolver, store string) (c *Component, ok bool) {
	before := len(b.diags)
	var secrets []string // known once the metadata is collected
	defer func() {
		// A message may quote a value (a bad URL...): hide what the
		// component's own Secrets would.
		if r := redact.New(secrets...); !r.Empty() {
			for i := before; i < len(b.diags); i++ {
				b.diags[i].Msg = r.String(b.diags[i].Msg)
			}
		}
		if len(b.diags) > before || len(d.diags) > 0 {
			c, ok = nil, false
		}
	}()
	if d.typ.value == "" {
		return nil, false // reported by the parser
	}
	t, found := bindings.Lookup(d.typ.value)
	if !found {
		b.add(d.file, d.typ.line, "%s", unknownType(d.typ.value))
		return nil, false
	}
	if d.version.value != "" && t.Version != "" && d.version.value != t.Version {
		b.add(d.file, d.version.line, "spec.version %q: %s is version %s", d.version.value, t.Name, t.Version)
	}
	keys := t.Keys(t.Directions)
	mv := b.collect(d, keys, res)
	known := map[string]string{}
	for name, v := range mv.values {
		if mv.unresolved[name] {
			continue // a placeholder
		}
		known[name] = v
		if mv.written[name].source != fromValue {
			secrets = append(secrets, v)
		}
	}
	secrets = bindings.SecretValues(t, known, secrets...)

	dir := t.Directions
	e := mv.entryFold("direction")
	if e == nil && dir == bindings.DirInput|bindings.DirOutput {
		dir = inferDirection(t, mv.values)
	}
	if e != nil && !mv.unresolved[e.name] {
		parsed, err := bindings.ParseDirection(mv.values[e.name])
		switch {
		case err != nil && e.source != fromValue:
			b.add(d.file, e.line, `metadata %q: the value from %s is not a direction (input, output or "input, output")`, e.name, e.describe(store))
		case err != nil:
			v := mv.values[e.name]
			b.add(d.file, e.line, `metadata %q: %q is not input, output or "input, output"%s`, e.name, v, suggest.Hint(strings.TrimSpace(v), []string{"input", "output"}))
		case !t.Directions.Has(parsed):
			b.add(d.file, e.line, "metadata %q: %s can be used for %s only", e.name, t.Name, t.Directions)
		default:
			dir = parsed
		}
	}

	md, problems := bindings.Validate(t, mv.values, dir)
	for _, p := range problems {
		b.keyProblem(d, keys, mv, p, store)
	}
	if len(problems) == 0 && !d.ignoreErrors { // such a component's failed open is skipped at start-up
		b.check(d, t, keys, mv, dir, store)
	}
	values := md.Map()
	var warnings []Diagnostic
	for _, p := range md.Ignored() {
		line := d.line
		if e := mv.written[p.Key]; e != nil {
			line = e.nameLine
		}
		warnings = append(warnings, Diagnostic{File: d.file, Line: line, Msg: p.Error()})
	}

	c = &Component{
		Name: d.name.value, Namespace: d.namespace.value, Type: d.typ.value, Version: d.version.value,
		Binding: t, Direction: dir,
		SecretKeys:   map[string]bool{},
		InitTimeout:  d.initTimeout,
		IgnoreErrors: d.ignoreErrors,
		Scopes:       d.scopes,
		SecretStore:  d.secretStore.value,
		Warnings:     warnings,
		File:         d.file,
		Line:         d.line,
		Source:       d.source,
	}
	if dir&bindings.DirInput != 0 {
		c.Delivery = b.delivery(d, mv, values, store)
		c.Route = values["route"]
		if c.Route == "" {
			c.Route = "/" + c.Name
		}
	}
	for _, k := range keys {
		if _, set := values[k.Name]; set && k.Secret {
			c.SecretKeys[k.Name] = true
		}
	}
	for name, e := range mv.written {
		k, declared := findKey(keys, name)
		if !declared {
			continue
		}
		if e.source != fromValue {
			c.SecretKeys[k.Name] = true
			if c.Refs == nil {
				c.Refs = map[string]Ref{}
			}
			c.Refs[k.Name] = Ref{Secret: e.secret.name, Key: e.secret.key, Env: e.env}
		}
		if mv.unresolved[name] {
			values[k.Name] = "" // never show a placeholder as if it were the value
		}
	}
	c.Metadata = values
	return c, true
}

// delivery reads the input delivery settings, reporting range problems on
// the line of the key they are about.
func (b *builder) delivery(d *document, mv metadataValues, values map[string]string, store string) bindings.DeliveryPolicy {
	delivery, err := bindings.ParseDeliveryPolicy(values)
	if err == nil {
		return delivery
	}
	var involved []*entry // delivery keys whose value is not a literal
	for _, k := range bindings.DeliveryKeys {
		if e := mv.entryFold(k.Name); e != nil && e.source != fromValue {
			if mv.unresolved[e.name] {
				// A placeholder may be what is out of range; the real
				// problem, if any, is reported where it was not resolved.
				return bindings.DefaultDeliveryPolicy()
			}
			involved = append(involved, e)
		}
	}
	var ke *bindings.KeyError
	if !errors.As(err, &ke) {
		ke = &bindings.KeyError{Msg: err.Error()}
	}
	e := mv.entryFold(ke.Key)
	if e == nil { // a default was out of range relative to a key that was set
		for _, k := range bindings.DeliveryKeys {
			if x := mv.entryFold(k.Name); x != nil && strings.Contains(ke.Msg, k.Name) {
				e = x
				break
			}
		}
	}
	line := firstLine(d.metadataLine, d.specLine, d.line)
	if e != nil {
		line = e.line
	}
	if len(involved) > 0 {
		// The message would quote values, and some come from secrets.
		srcs := make([]string, len(involved))
		for i, x := range involved {
			srcs[i] = x.describe(store)
		}
		b.add(d.file, line, "metadata %q: out of range, with values from %s", ke.Key, strings.Join(srcs, ", "))
	} else {
		b.add(d.file, line, "%s", ke.Error())
	}
	return bindings.DefaultDeliveryPolicy()
}

// unknownType is the message for a spec.type no binding registered.
func unknownType(typ string) string {
	if !strings.HasPrefix(typ, "bindings.") {
		if _, ok := bindings.Lookup("bindings." + typ); ok {
			return fmt.Sprintf("unknown component type %q; did you mean %q?", typ, "bindings."+typ)
		}
	}
	return bindings.UnknownTypeError(typ).Error()
}

// store validates a secret store document and, given env, opens the store.
// It returns nil when the store cannot be used (problems are reported).
func (b *builder) store(d *document, env *storeEnv) secretStore {
	st, ok := storeTypes[d.typ.value]
	if !ok {
		b.add(d.file, d.typ.line, "unknown secret store type %q%s", d.typ.value, suggest.Hint(d.typ.value, storeTypeNames()))
		return nil
	}
	if v := d.version.value; v != "" && v != "v1" {
		b.add(d.file, d.version.line, "spec.version %q: %s is version v1", v, d.typ.value)
	}
	var res resolver
	if env != nil {
		res = func(e *entry) (string, bool) {
			if e.source != fromEnv {
				return "", false
			}
			v, ok := env.lookupEnv(e.env)
			if !ok {
				b.add(d.file, e.line, "metadata %q: envRef: environment variable %q is not set", e.name, e.env)
			}
			return v, ok
		}
	}
	for _, e := range d.entries {
		if e.source == fromSecret && !e.broken {
			b.add(d.file, e.line, "metadata %q: a secret store takes its metadata from value or envRef, not secretKeyRef", e.name)
			e.broken = true
		}
	}
	before := len(b.diags)
	mv := b.collect(d, st.keys, res)
	values, problems := validateStore(d.typ.value, st, mv.values)
	for _, p := range problems {
		b.keyProblem(d, st.keys, mv, p, "")
	}
	if env == nil || len(b.diags) > before || len(d.diags) > 0 || len(mv.unresolved) > 0 {
		return nil
	}
	s, kerr := st.open(values, env)
	if kerr != nil {
		line, what := d.line, fmt.Sprintf("metadata %q", kerr.Key)
		if e := mv.entryFold(kerr.Key); e != nil {
			line = e.line
			if e.source == fromValue {
				what = fmt.Sprintf("metadata %q: %q", e.name, e.value)
			} else {
				what = fmt.Sprintf("metadata %q: the path from %s", e.name, e.describe(""))
			}
		}
		b.add(d.file, line, "%s %s", what, kerr.Msg)
		return nil
	}
	return s
}

// loader adds to builder what needs every file: scopes, duplicate names,
// secret store references and deadLetter targets.
type loader struct {
	builder
	opts Options

	unavailable map[string]*document // components not loaded, by name
	stores      map[string]*openedStore
	bindingDocs map[string]*document // binding documents by name, loaded or failed
	storeDesc   map[*document]string // how messages name a binding's secret store
}

type openedStore struct {
	doc   *document
	store secretStore // nil when it failed to open (reported)
}

func (l *loader) load(docs []*document) *Set {
	l.unavailable = map[string]*document{}
	l.stores = map[string]*openedStore{}
	l.bindingDocs = map[string]*document{}
	l.storeDesc = map[*document]string{}

	var live []*document
	for _, d := range docs {
		l.diags = append(l.diags, d.diags...)
		switch {
		case d.class == classInvalid:
		case d.class == classSkip:
			l.skip(d, d.skip)
		case l.opts.AppID != "" && len(d.scopes) > 0 && !slices.Contains(d.scopes, l.opts.AppID):
			d.skip = fmt.Sprintf("its scopes do not include app %q", l.opts.AppID)
			l.skip(d, d.skip)
		default:
			live = append(live, d)
		}
	}

	first := map[string]*document{}
	var unique []*document
	for _, d := range live {
		if f := first[d.name.value]; f != nil && d.name.value != "" {
			l.add(d.file, d.name.line, "duplicate component name %q (first defined at %s:%d)", d.name.value, f.file, f.name.line)
			continue
		}
		first[d.name.value] = d
		unique = append(unique, d)
	}

	set := &Set{byName: map[string]*Component{}, stores: map[string]*Store{}}
	for _, d := range unique {
		if d.class == classStore {
			var env *storeEnv
			if !l.opts.Unresolved {
				env = &storeEnv{file: d.file, lookupEnv: l.opts.LookupEnv}
			}
			l.stores[d.name.value] = &openedStore{doc: d, store: l.store(d, env)}
			md := map[string]string{}
			for _, e := range d.entries {
				md[e.name] = e.value
			}
			set.stores[d.name.value] = &Store{Name: d.name.value, Type: d.typ.value, Metadata: md, File: d.file, Line: d.line, Source: d.source}
		}
	}

	docOf := map[*Component]*document{}
	for _, d := range unique {
		if d.class != classBinding {
			continue
		}
		l.bindingDocs[d.name.value] = d
		res, store := l.resolver(d)
		if l.opts.Unresolved {
			res = nil
		}
		l.storeDesc[d] = store
		if c, ok := l.binding(d, res, store); ok {
			for _, w := range c.Warnings {
				l.opts.Logger.Warn(w.Msg, "component", c.Name, "file", w.File, "line", w.Line)
			}
			if c.Direction != c.Binding.Directions && !writesDirection(d) {
				l.opts.Logger.Info("direction inferred as Dapr does: the keys of the other direction are not set",
					"component", c.Name, "file", d.file, "line", d.line, "direction", c.Direction.String())
			}
			set.components = append(set.components, c)
			set.byName[c.Name] = c
			docOf[c] = d
		}
	}
	for _, c := range set.components {
		if c.Delivery.DeadLetter != "" {
			l.checkDeadLetter(docOf[c], c, set)
		}
	}
	slices.SortStableFunc(set.components, func(a, b *Component) int {
		if a.File != b.File {
			return strings.Compare(a.File, b.File)
		}
		return a.Line - b.Line
	})
	return set
}

func (l *loader) skip(d *document, reason string) {
	if d.name.value != "" && d.kind == "Component" {
		if _, dup := l.unavailable[d.name.value]; !dup {
			l.unavailable[d.name.value] = d
		}
	}
	attrs := []any{"file", d.file, "line", d.line, "kind", d.kind, "name", d.name.value}
	if d.kind == "Component" {
		attrs = append(attrs, "type", d.typ.value)
	}
	l.opts.Logger.Info("skipping "+d.kind, append(attrs, "reason", reason)...)
}

// resolver returns how to resolve d's secret-sourced metadata and how to
// name its secret store in messages; it reports a bad auth.secretStore.
func (l *loader) resolver(d *document) (resolver, string) {
	var store secretStore
	var desc string
	switch name := d.secretStore.value; {
	case name == "":
		store = &envStore{lookupEnv: l.opts.LookupEnv}
		desc = "the default secret store (" + StoreEnv + ")"
	case l.stores[name] != nil:
		s := l.stores[name]
		store, desc = s.store, fmt.Sprintf("secret store %q (%s)", name, s.doc.typ.value)
	default:
		l.add(d.file, d.secretStore.line, "auth.secretStore: %s", l.notAStore(name))
		desc = fmt.Sprintf("secret store %q", name)
	}
	return func(e *entry) (string, bool) {
		switch e.source {
		case fromEnv:
			v, ok := l.opts.LookupEnv(e.env)
			if !ok {
				l.add(d.file, e.line, "metadata %q: envRef: environment variable %q is not set", e.name, e.env)
			}
			return v, ok
		case fromSecret:
			if store == nil {
				return "", false // the store's own problem is reported once, where it is
			}
			v, err := store.get(e.secret.name, e.secret.key)
			if err != nil {
				ref := fmt.Sprintf("name %q", e.secret.name)
				if e.secret.key != "" {
					ref += fmt.Sprintf(" key %q", e.secret.key)
				}
				l.add(d.file, e.line, "metadata %q: cannot resolve secretKeyRef %s from %s: %v", e.name, ref, desc, err)
				return "", false
			}
			return v, true
		}
		return e.value, true
	}, desc
}

// notAStore explains why name, given as a secret store, is none.
func (l *loader) notAStore(name string) string {
	if d := l.unavailable[name]; d != nil {
		if strings.HasPrefix(d.typ.value, "secretstores.") {
			return fmt.Sprintf("secret store %q is not loaded: %s", name, d.skip)
		}
		return fmt.Sprintf("%q is a %s component, not a secret store", name, d.typ.value)
	}
	if d := l.bindingDocs[name]; d != nil {
		return fmt.Sprintf("%q is a binding (%s), not a secret store", name, d.typ.value)
	}
	return fmt.Sprintf("no secret store named %q%s", name, suggest.Hint(name, slices.Collect(maps.Keys(l.stores))))
}

// checkDeadLetter reports a deadLetter that names no output binding.
func (l *loader) checkDeadLetter(d *document, c *Component, set *Set) {
	target := c.Delivery.DeadLetter
	mv := metadataValues{written: map[string]*entry{}}
	for _, e := range d.entries {
		mv.written[e.name] = e
	}
	e := mv.entryFold("deadLetter")
	if e == nil {
		return
	}
	what := fmt.Sprintf("%q", target)
	if e.source != fromValue {
		what = "the component named by " + e.describe(l.storeDesc[d])
	}
	var msg string
	if t, ok := set.Get(target); ok {
		if t.Direction.Has(bindings.DirOutput) {
			return
		}
		msg = fmt.Sprintf("%s (%s) is not an output: its direction is %s", what, t.Type, t.Direction)
	} else if _, failed := l.bindingDocs[target]; failed {
		return // its own problems are reported
	} else if s := l.stores[target]; s != nil {
		msg = fmt.Sprintf("%s is a secret store, not an output binding", what)
	} else if u := l.unavailable[target]; u != nil && !strings.HasPrefix(u.typ.value, "bindings.") {
		msg = fmt.Sprintf("%s is a %s component, not an output binding", what, u.typ.value)
	} else if u != nil {
		msg = fmt.Sprintf("%s is not loaded: %s", what, u.skip)
	} else {
		var outputs []string
		for _, x := range set.components {
			if x.Direction.Has(bindings.DirOutput) {
				outputs = append(outputs, x.Name)
			}
		}
		if e.source == fromValue {
			msg = "no component named " + what + suggest.Hint(target, outputs)
		} else {
			msg = what + " does not exist"
		}
	}
	l.add(d.file, e.line, "metadata %q: %s", e.name, msg)
}
