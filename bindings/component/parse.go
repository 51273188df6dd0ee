package component

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tetherfn/tether/internal/suggest"
)

// APIVersion is the only apiVersion of kind Component that Load accepts.
const APIVersion = "dapr.io/v1alpha1"

// document is one YAML document of a component file as written, with the
// line of everything a diagnostic may point at. Lines are absolute in the
// file, 1-based; 0 means "not written".
type document struct {
	file string
	line int // line of the document's first key
	kind string

	// class says what Load does with the document; skip, for classSkip,
	// says why it is left out (logged once).
	class docClass
	skip  string

	name, namespace field
	typ, version    field
	specLine        int
	metadataLine    int
	entries         []*entry
	initTimeout     time.Duration
	ignoreErrors    bool
	secretStore     field
	scopes          []string

	// incomplete: a structural error in spec may have hidden metadata
	// entries, so "missing required key" would only repeat that error.
	incomplete bool
	// diags are the structural problems of the document; they are dropped
	// when the document turns out to be one Tether skips.
	diags Diagnostics
	// source is the document's text as written, without its "---" line.
	source []byte
}

type docClass uint8

const (
	classBinding docClass = iota
	classStore
	classSkip
	classInvalid // reported; nothing more to check
)

// field is a scalar as written and the line of its value.
type field struct {
	value string
	line  int
}

type source uint8

const (
	fromValue  source = iota // value: (or nothing, which is "")
	fromSecret               // secretKeyRef: {name, key}
	fromEnv                  // envRef: NAME
)

// entry is one item of spec.metadata.
type entry struct {
	name     string
	nameLine int
	line     int // line of the value, secretKeyRef name or envRef; else nameLine
	value    string
	source   source
	secret   struct{ name, key string }
	env      string
	// broken: the entry's value was malformed and already reported; only
	// its name is validated.
	broken bool
}

// describe names where e's value comes from without showing it.
func (e *entry) describe(store string) string {
	switch e.source {
	case fromSecret:
		if e.secret.key == "" {
			return fmt.Sprintf("secret %q of %s", e.secret.name, store)
		}
		return fmt.Sprintf("secret %q key %q of %s", e.secret.name, e.secret.key, store)
	case fromEnv:
		return fmt.Sprintf("environment variable %q (envRef)", e.env)
	}
	return "value"
}

var (
	topFields   = []string{"apiVersion", "kind", "metadata", "spec", "auth", "scopes"}
	metaFields  = []string{"name", "namespace"}
	specFields  = []string{"type", "version", "metadata", "initTimeout", "ignoreErrors"}
	entryFields = []string{"name", "value", "secretKeyRef", "envRef"}
	refFields   = []string{"name", "key"}
	authFields  = []string{"secretStore"}
	// Kubernetes object metadata a component may carry when it was exported
	// from a cluster; accepted and ignored.
	k8sMetaFields = []string{"labels", "annotations", "uid", "resourceVersion", "generation",
		"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName",
		"ownerReferences", "finalizers", "managedFields", "selfLink"}
	// Component types of Dapr building blocks other than bindings and
	// secret stores: skipped with an info line.
	otherTypePrefixes = []string{"pubsub.", "state.", "configuration.", "lock.", "middleware.",
		"nameresolution.", "workflow.", "workflows.", "conversation.", "crypto.", "cryptography."}
)

// fileParser turns one file's content into documents.
type fileParser struct {
	file   string
	offset int // line of the current chunk in the file, minus one
	diags  *Diagnostics
}

func (p *fileParser) errorAt(line int, format string, args ...any) {
	*p.diags = append(*p.diags, Diagnostic{File: p.file, Line: max(line, 1), Msg: fmt.Sprintf(format, args...)})
}

func (p *fileParser) line(n *yaml.Node) int { return n.Line + p.offset }

func (p *fileParser) errorf(n *yaml.Node, format string, args ...any) {
	p.errorAt(p.line(n), format, args...)
}

// parseFile reads every document of one file. It never touches the
// filesystem. Documents of classSkip carry no diagnostics.
func parseFile(file string, data []byte) ([]*document, Diagnostics) {
	var fileDiags Diagnostics
	var docs []*document
	for _, c := range splitDocuments(data) {
		dec := yaml.NewDecoder(bytes.NewReader(c.data))
		for {
			var root yaml.Node
			err := decode(dec, &root)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fileDiags = append(fileDiags, yamlDiagnostic(file, c, err))
				break // the decoder cannot go on; the next chunk can
			}
			d := &document{file: file, source: documentText(c.data)}
			p := &fileParser{file: file, offset: c.line - 1, diags: &d.diags}
			if !p.document(d, &root) {
				continue
			}
			if d.class == classSkip {
				d.diags = nil
			}
			docs = append(docs, d)
		}
	}
	return docs, fileDiags
}

// decode is dec.Decode, with a panic inside the YAML library turned into an
// error: a component file must never crash the loader.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: the parser failed on this input (%v)", r)
		}
	}()
	return dec.Decode(n)
}

// chunk is a part of a file between two document markers ("---").
type chunk struct {
	line int // first line of data in the file
	data []byte
}

// splitDocuments cuts data at every "---" line, so that one malformed
// document does not hide the problems of the ones after it.
func splitDocuments(data []byte) []chunk {
	var chunks []chunk
	start, startLine, line := 0, 1, 1
	for i := 0; i < len(data); line++ {
		next := len(data)
		if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
			next = i + j + 1
		}
		if l := bytes.TrimRight(data[i:next], "\r\n"); i > start && isDocumentMarker(l) {
			chunks = append(chunks, chunk{line: startLine, data: data[start:i]})
			start, startLine = i, line
		}
		i = next
	}
	if start < len(data) {
		chunks = append(chunks, chunk{line: startLine, data: data[start:]})
	}
	return chunks
}

// documentText is a chunk without its leading "---" line.
func documentText(data []byte) []byte {
	first, rest, found := bytes.Cut(data, []byte("\n"))
	if isDocumentMarker(bytes.TrimRight(first, "\r")) {
		if !found {
			return nil
		}
		return rest
	}
	return data
}

func isDocumentMarker(l []byte) bool {
	return bytes.HasPrefix(l, []byte("---")) && (len(l) == 3 || l[3] == ' ' || l[3] == '\t')
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parserProblems are the problems yaml.v3's parser (as opposed to its
// scanner) reports; it prints their line 0-based.
var parserProblems = []string{
	"did not find expected <stream-start>", "did not find expected <document start>",
	"found undefined tag handle", "did not find expected node content",
	"did not find expected '-' indicator", "did not find expected key",
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"found duplicate %YAML directive", "found incompatible YAML document",
	"found duplicate %TAG directive",
}

// yamlDiagnostic places a YAML syntax error on its line in the file.
func yamlDiagnostic(file string, c chunk, err error) Diagnostic {
	msg := err.Error()
	line := c.line
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if slices.Contains(parserProblems, msg) {
			n++
		}
		lines := bytes.Count(c.data, []byte("\n")) + 1
		line = c.line - 1 + min(max(n, 1), lines)
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return Diagnostic{File: file, Line: line, Msg: "malformed YAML: " + msg}
}

// deref follows aliases to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// lookup returns the value of key in mapping n, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := deref(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

// document fills d from root. It reports false for an empty document.
func (p *fileParser) document(d *document, root *yaml.Node) bool {
	n := root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return false
		}
		n = n.Content[0]
	}
	n = deref(n)
	if n.Kind == 0 || isNull(n) {
		return false
	}
	d.line = p.line(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "a document must be a mapping (a Dapr resource with apiVersion and kind), not %s", describeNode(n))
		d.class = classInvalid
		return true
	}
	kind := lookup(n, "kind")
	if kind == nil || kind.Kind != yaml.ScalarNode || kind.Value == "" {
		p.errorAt(d.line, `missing "kind" (want Component)`)
		d.class = classInvalid
		return true
	}
	d.kind = kind.Value
	switch {
	case d.kind == "Component":
		p.component(d, n)
		classify(d)
	case suggest.Closest(d.kind, []string{"Component"}) != "":
		p.errorf(kind, `unknown kind %q; did you mean "Component"?`, d.kind)
		d.class = classInvalid
	default:
		d.class = classSkip
		d.skip = "Tether loads only kind Component"
		if name := lookup(n, "metadata"); name != nil {
			if v := lookup(name, "name"); v != nil && v.Kind == yaml.ScalarNode {
				d.name = field{v.Value, p.line(v)}
			}
		}
	}
	return true
}

// classify decides from spec.type whether Load builds the component as a
// binding or a secret store, or skips it.
func classify(d *document) {
	t := d.typ.value
	switch {
	case strings.HasPrefix(t, "secretstores."):
		if _, ok := storeTypes[t]; ok {
			d.class = classStore
		} else if suggest.Closest(t, storeTypeNames()) != "" {
			d.class = classStore // a typo: building it reports the hint
		} else {
			d.class = classSkip
			d.skip = fmt.Sprintf("secret store type %s is not supported (Tether reads %s)", t, strings.Join(storeTypeNames(), ", "))
		}
	case slices.ContainsFunc(otherTypePrefixes, func(p string) bool { return strings.HasPrefix(t, p) }):
		d.class = classSkip
		d.skip = "Tether loads only bindings and secret stores"
	default:
		d.class = classBinding
	}
}

// fields walks mapping n, calling fn for each key of known. It reports keys
// that are not known (with a suggestion), keys set twice and a node that is
// not a mapping, and returns whether it found no problem. A null node is an
// empty mapping.
func (p *fileParser) fields(n *yaml.Node, where string, known, ignored []string, fn func(key string, k, v *yaml.Node)) bool {
	n = deref(n)
	if isNull(n) {
		return true
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping, not %s", where, describeNode(n))
		return false
	}
	ok := true
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%s: a key must be a string, not %s", where, describeNode(k))
			ok = false
			continue
		}
		key := k.Value
		if first, dup := seen[key]; dup {
			p.errorf(k, "%s: %q is set twice (first on line %d)", where, key, first)
			ok = false
			continue
		}
		seen[key] = p.line(k)
		switch {
		case slices.Contains(known, key):
			fn(key, k, v)
		case slices.Contains(ignored, key):
		default:
			p.errorf(k, "unknown field %q in %s%s", key, where, suggest.Hint(key, known))
			ok = false
		}
	}
	return ok
}

// scalar returns the string value of a scalar node ("" for null), reporting
// any other node.
func (p *fileParser) scalar(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s must be a string, not %s", what, describeNode(n))
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	return n.Value, true
}

func (p *fileParser) component(d *document, n *yaml.Node) {
	sawMeta, sawSpec := false, false
	p.fields(n, "the component", topFields, nil, func(key string, k, v *yaml.Node) {
		switch key {
		case "apiVersion":
			if s, ok := p.scalar(v, "apiVersion"); ok && s != APIVersion {
				p.errorf(v, "apiVersion %q: want %s", s, APIVersion)
			}
		case "metadata":
			sawMeta = true
			p.objectMeta(d, k, v)
		case "spec":
			sawSpec = true
			d.specLine = p.line(k)
			p.spec(d, v)
		case "auth":
			p.fields(v, "auth", authFields, nil, func(_ string, _, v *yaml.Node) {
				if s, ok := p.scalar(v, "auth.secretStore"); ok {
					d.secretStore = field{s, p.line(v)}
				}
			})
		case "scopes":
			p.scopes(d, v)
		}
	})
	if lookup(n, "apiVersion") == nil {
		p.errorAt(d.line, "missing apiVersion (want %s)", APIVersion)
	}
	if !sawMeta {
		p.errorAt(d.line, "missing metadata.name")
	}
	if !sawSpec {
		p.errorAt(d.line, "missing spec (with type and metadata)")
		d.incomplete = true
	} else if d.typ.line == 0 {
		p.errorAt(d.specLine, "missing spec.type (like bindings.kafka)")
	}
}

func (p *fileParser) objectMeta(d *document, k, v *yaml.Node) {
	p.fields(v, "metadata", metaFields, k8sMetaFields, func(key string, _, v *yaml.Node) {
		s, ok := p.scalar(v, "metadata."+key)
		if !ok {
			return
		}
		switch key {
		case "name":
			d.name = field{s, p.line(v)}
			if bad := badName(s); bad != "" {
				p.errorf(v, "metadata.name %q: %s", s, bad)
			}
		case "namespace":
			d.namespace = field{s, p.line(v)}
		}
	})
	if d.name.line == 0 {
		p.errorf(k, "missing metadata.name")
	}
}

// badName says what is wrong with a component name, "" when nothing. Names
// are addressed in URL paths (/v1.0/bindings/<name>) and in deadLetter.
func badName(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case strings.ContainsAny(s, "/\\?#%"):
		return `must not contain "/", "\", "?", "#" or "%"`
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "must not contain spaces or control characters"
	}
	return ""
}

func (p *fileParser) spec(d *document, v *yaml.Node) {
	ok := p.fields(v, "spec", specFields, nil, func(key string, k, v *yaml.Node) {
		if key == "metadata" {
			d.metadataLine = p.line(k)
			p.metadata(d, v)
			return
		}
		if key == "type" {
			d.typ.line = p.line(v) // written, even if malformed: not "missing"
		}
		s, ok := p.scalar(v, "spec."+key)
		if !ok {
			return
		}
		switch key {
		case "type":
			d.typ = field{s, p.line(v)}
			if s == "" {
				p.errorf(v, "spec.type is empty (want a type like bindings.kafka)")
			}
		case "version":
			d.version = field{s, p.line(v)}
		case "initTimeout":
			t, err := time.ParseDuration(s)
			switch {
			case err != nil:
				p.errorf(v, "spec.initTimeout %q is not a duration (like 5s or 1m)", s)
			case t < 0:
				p.errorf(v, "spec.initTimeout %q must not be negative", s)
			}
			d.initTimeout = t
		case "ignoreErrors":
			b, err := strconv.ParseBool(s)
			if err != nil {
				p.errorf(v, "spec.ignoreErrors %q is not a boolean (true or false)", s)
			}
			d.ignoreErrors = b
		}
	})
	if !ok { // a misspelt or repeated field may have held the metadata
		d.incomplete = true
	}
}

func (p *fileParser) metadata(d *document, n *yaml.Node) {
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "spec.metadata must be a list of entries (- name: ... value: ...), not %s", describeNode(n))
		d.incomplete = true
		return
	}
	for _, item := range n.Content {
		if e := p.entry(item); e != nil {
			d.entries = append(d.entries, e)
		} else {
			d.incomplete = true
		}
	}
}

// entry reads one spec.metadata item; nil when it has no usable name.
func (p *fileParser) entry(n *yaml.Node) *entry {
	n = deref(n)
	e := &entry{}
	sources := 0
	ok := p.fields(n, "metadata entry", entryFields, nil, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			if s, ok := p.scalar(v, "metadata name"); ok {
				e.name, e.nameLine = s, p.line(v)
			}
			return
		case "value":
			e.line = p.line(v)
			if v.Kind == yaml.ScalarNode {
				e.value, _ = p.scalar(v, "")
			} else {
				// Named below, once the entry's name is known.
				e.broken = true
			}
		case "secretKeyRef":
			e.source, e.line = fromSecret, p.line(k)
			saw := false
			if !p.fields(v, "secretKeyRef", refFields, nil, func(key string, _, v *yaml.Node) {
				s, ok := p.scalar(v, "secretKeyRef."+key)
				if !ok {
					e.broken = true
					return
				}
				if key == "name" {
					e.secret.name, e.line, saw = s, p.line(v), true
				} else {
					e.secret.key = s
				}
			}) {
				e.broken = true
			}
			if !saw && !e.broken {
				p.errorf(k, "secretKeyRef needs a name (the secret's name in the store)")
				e.broken = true
			}
		case "envRef":
			e.source, e.line = fromEnv, p.line(v)
			if s, ok := p.scalar(v, "envRef"); !ok {
				e.broken = true
			} else if s == "" {
				p.errorf(v, "envRef is empty; name an environment variable")
				e.broken = true
			} else {
				e.env = s
			}
		}
		if sources++; sources == 2 {
			p.errorf(k, "a metadata entry takes only one of value, secretKeyRef and envRef")
			e.broken = true
		}
	})
	if e.nameLine == 0 {
		if ok {
			p.errorf(n, `metadata entry without "name"`)
		}
		return nil
	}
	if e.name == "" {
		p.errorAt(e.nameLine, "metadata entry with an empty name")
		return nil
	}
	if e.line == 0 {
		e.line = e.nameLine
	}
	if !ok {
		e.broken = true
	}
	if v := lookup(n, "value"); v != nil && v.Kind != yaml.ScalarNode && sources == 1 {
		p.errorAt(e.line, "metadata %q: value must be a string, number or boolean, not %s", e.name, describeNode(v))
	}
	return e
}

func (p *fileParser) scopes(d *document, n *yaml.Node) {
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "scopes must be a list of app ids, not %s", describeNode(n))
		return
	}
	for _, item := range n.Content {
		if s, ok := p.scalar(item, "a scope"); ok {
			d.scopes = append(d.scopes, s)
		}
	}
}
