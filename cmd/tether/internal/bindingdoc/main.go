// Command bindingdoc writes the metadata key tables of docs/bindings/<type>.md
// from the binding types' own declarations (bindings.Type.Metadata and
// bindings.DeliveryKeys), the ones that validate component files and that
// tether bindings prints. Only the part between the two markers is
// written; the prose around it stays as written by hand:
//
//	<!-- BEGIN generated keys ... -->
//	<!-- END generated keys -->
//
// It writes the table of the delivery keys in docs/components.md the same
// way. go generate runs it (cmd/tether/doc.go), so that CI fails when a
// table is out of date:
//
//	go run ./internal/bindingdoc -dir ../../docs/bindings -components ../../docs/components.md
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tetherfn/tether/bindings"
	_ "github.com/tetherfn/tether/bindings/all" // every type has a page
)

func main() {
	dir := flag.String("dir", "", "the docs/bindings folder")
	components := flag.String("components", "", "docs/components.md, whose delivery keys table to write")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "bindingdoc: -dir is required")
		os.Exit(2)
	}
	failed := false
	if *components != "" {
		if err := rewriteFile(*components, RewriteComponents); err != nil {
			fmt.Fprintln(os.Stderr, "bindingdoc:", err)
			failed = true
		}
	}
	for _, t := range bindings.Types() {
		rewrite := func(doc []byte) ([]byte, error) { return Rewrite(doc, t) }
		if err := rewriteFile(filepath.Join(*dir, DocFile(t)), rewrite); err != nil {
			fmt.Fprintln(os.Stderr, "bindingdoc:", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func rewriteFile(path string, rewrite func([]byte) ([]byte, error)) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc, err := rewrite(old)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(old, doc) {
		return nil // unchanged: leave the file's time alone
	}
	return os.WriteFile(path, doc, 0o644)
}

// DocFile is the name of t's page in docs/bindings: the type's name
// without "bindings.", but for the pages named before that rule.
func DocFile(t *bindings.Type) string {
	if t.Name == "bindings.twilio.sms" {
		return "twilio.md"
	}
	return strings.TrimPrefix(t.Name, "bindings.") + ".md"
}

// Markers bound the generated part of a page: a line that starts with
// "<!-- BEGIN generated <what>" (the rest of it explains, and may change)
// and the line End(what).
func beginMarker(what, note string) string {
	return "<!-- BEGIN generated " + what + ": " + note + " -->"
}

// End is the line that ends the generated part named what.
func End(what string) string { return "<!-- END generated " + what + " -->" }

// Rewrite returns the page doc of t with its key tables written from t's
// declaration.
func Rewrite(doc []byte, t *bindings.Type) ([]byte, error) {
	return replace(doc, "keys", "go generate ./cmd/tether writes this part from the type's declaration; edit the declaration (bindings/<driver>/*.go), not this table", Tables(t))
}

// RewriteComponents returns docs/components.md with its table of the
// delivery keys written from bindings.DeliveryKeys.
func RewriteComponents(doc []byte) ([]byte, error) {
	return replace(doc, "delivery keys", "go generate ./cmd/tether writes this table from bindings.DeliveryKeys (bindings/delivery.go); edit them, not the table", deliveryTable(bindings.DeliveryKeys, nil))
}

// replace returns doc with the part between the markers named what
// replaced by content. A page without the markers, or with them in the
// wrong order, is an error that says where they go.
func replace(doc []byte, what, note string, content []byte) ([]byte, error) {
	prefix := "<!-- BEGIN generated " + what
	begin := bytes.Index(doc, []byte(prefix))
	end := bytes.Index(doc, []byte(End(what)))
	if begin < 0 || end < 0 || end < begin {
		return nil, fmt.Errorf("no %s --> ... %s markers: put them, each on a line of its own, where the generated table goes", prefix, End(what))
	}
	if eol := bytes.IndexByte(doc[begin:], '\n'); eol < 0 || begin+eol > end {
		return nil, fmt.Errorf("%s must be on a line of its own", prefix)
	}
	var b bytes.Buffer
	b.Write(doc[:begin])
	b.WriteString(beginMarker(what, note) + "\n\n")
	b.Write(content)
	b.WriteString("\n")
	b.Write(doc[end:])
	return b.Bytes(), nil
}

// Tables renders t's keys: its own (those Dapr's files may carry and
// Tether ignores apart), then, for an input type, the runtime's delivery
// keys.
func Tables(t *bindings.Type) []byte {
	var b bytes.Buffer
	both := t.Directions == bindings.DirBoth
	names := keyNames(t)
	var used, ignored []bindings.MetadataKey
	for _, k := range t.Metadata {
		if k.Ignored != "" {
			ignored = append(ignored, k)
		} else {
			used = append(used, k)
		}
	}
	if len(used) == 0 {
		fmt.Fprintf(&b, "A %s component has no metadata keys of its own.\n", t.Name)
	} else {
		if both {
			b.WriteString("| key | kind | default | direction | meaning |\n| --- | --- | --- | --- | --- |\n")
		} else {
			b.WriteString("| key | kind | default | meaning |\n| --- | --- | --- | --- |\n")
		}
		for _, k := range used {
			fmt.Fprintf(&b, "| %s | %s | %s |", keyCell(k), kindCell(k), defaultCell(k))
			if both {
				fmt.Fprintf(&b, " %s |", directionCell(k.Direction))
			}
			fmt.Fprintf(&b, " %s |\n", prose(k.Description, names))
		}
	}
	if len(ignored) > 0 {
		b.WriteString("\nAccepted from Dapr's component files and ignored, with a warning at load:\n\n")
		b.WriteString("| key | why |\n| --- | --- |\n")
		for _, k := range ignored {
			fmt.Fprintf(&b, "| %s | %s |\n", keyCell(k), prose(k.Ignored, names))
		}
	}
	if t.Directions.Has(bindings.DirInput) {
		b.WriteString("\n**Delivery keys.** An input component also takes the runtime's delivery settings\n")
		b.WriteString("([components.md](../components.md#delivery-keys)), with this type's defaults:\n\n")
		b.Write(deliveryTable(t.DeliveryKeys(), names))
	}
	return b.Bytes()
}

// deliveryTable renders delivery keys (with a type's defaults, or the
// common ones); names are the key names to set in code besides the
// delivery keys' own.
func deliveryTable(keys []bindings.MetadataKey, names map[string]bool) []byte {
	if names == nil {
		names = keyNames(&bindings.Type{})
	}
	var b bytes.Buffer
	b.WriteString("| key | kind | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", keyCell(k), kindCell(k), defaultCell(k), prose(k.Description, names))
	}
	return b.Bytes()
}

func keyCell(k bindings.MetadataKey) string {
	s := "`" + k.Name + "`"
	if len(k.Aliases) > 0 {
		s += " (also " + codeList(k.Aliases, ", ") + ")"
	}
	return s
}

func kindCell(k bindings.MetadataKey) string {
	s := k.Kind.String()
	if k.Kind == bindings.KindEnum {
		s = codeList(k.Enum, ", ")
	}
	if k.Secret {
		s += ", **secret**"
	}
	return s
}

func defaultCell(k bindings.MetadataKey) string {
	switch {
	case k.Required:
		return "required"
	case k.Default != "":
		return "`" + k.Default + "`"
	}
	return "—"
}

func directionCell(d bindings.Direction) string {
	switch d {
	case bindings.DirInput:
		return "input"
	case bindings.DirOutput:
		return "output"
	}
	return "both"
}

func codeList(items []string, sep string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = "`" + s + "`"
	}
	return strings.Join(quoted, sep)
}

// keyNames are the names prose sets in code: the type's keys and the
// delivery keys that are not also plain English words (a name with an
// upper-case letter after its first, or an underscore, as
// connectionString or project_id; not topic or table).
func keyNames(t *bindings.Type) map[string]bool {
	names := map[string]bool{}
	add := func(n string) {
		if strings.ContainsAny(n[1:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") {
			names[n] = true
		}
	}
	for _, keys := range [][]bindings.MetadataKey{t.Metadata, bindings.DeliveryKeys, bindings.GenericKeys} {
		for _, k := range keys {
			add(k.Name)
			for _, a := range k.Aliases {
				add(a)
			}
		}
	}
	return names
}

var (
	word = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	// quoted is a quoted word, or a quoted placeholder pattern, standing
	// as a word in prose: not JSON, as in {"a":"b"}.
	// path is a URL path standing as a word: /healthz, /v1.0/....
	path   = regexp.MustCompile(`(^|\s)(/[A-Za-z0-9][^\s,;)<]*(?:\.\.\.|[^\s,;:.)<]))`)
	quoted = regexp.MustCompile(`(^|[\s(])"([^"\s]+|[^"]*<[^"]*)"([\s,.;:)]|$)`)
)

// prose makes a declaration's description a table cell: key names and
// quoted single words in code, and what Markdown would take for a column
// or an HTML tag escaped.
func prose(s string, names map[string]bool) string {
	var b strings.Builder
	// Split around existing code spans, which are left as they are.
	for i, part := range strings.Split(s, "`") {
		if i%2 == 1 {
			b.WriteString("`" + strings.ReplaceAll(part, "|", `\|`) + "`") // GitHub splits cells even there
			continue
		}
		part = quoted.ReplaceAllString(part, "$1`$2`$3")
		part = path.ReplaceAllString(part, "$1`$2`")
		// Code spans made by the line above are left alone too.
		for j, p := range strings.Split(part, "`") {
			if j%2 == 1 {
				b.WriteString("`" + strings.ReplaceAll(p, "|", `\|`) + "`")
				continue
			}
			p = word.ReplaceAllStringFunc(p, func(w string) string {
				if names[w] {
					return "`" + w + "`"
				}
				return w
			})
			p = strings.NewReplacer("|", `\|`, "<", "&lt;").Replace(p)
			b.WriteString(p)
		}
	}
	return strings.ReplaceAll(b.String(), "\n", " ")
}
