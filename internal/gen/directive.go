package gen

import (
	"go/ast"
	"go/token"
	"regexp"
	"slices"
	"strings"

	"github.com/tetherfn/tether/internal/suggest"
)

// directivePrefix starts every tether directive; directiveFunction is the
// one that declares a function.
const (
	directivePrefix   = "//tether:"
	directiveFunction = "//tether:function"
)

// directiveKeys are the key=value settings a //tether:function directive
// accepts after the function's name.
var directiveKeys = []string{"trigger", "return", "middleware"}

// nameRE is a DNS-1123 label, as Kubernetes object names and the runtime
// (trigger.Function) require.
var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// directive is one parsed //tether:function line.
type directive struct {
	pos     token.Pos // of the "//"
	name    string
	namePos token.Pos
	trigger string
	ret     string
	retPos  token.Pos
	mw      string // middleware=<Func>: a func() []trigger.Middleware
	mwPos   token.Pos
}

// word is a space-separated part of a directive line and where it starts.
type word struct {
	text string
	pos  token.Pos
}

func splitWords(c *ast.Comment) []word {
	var words []word
	text := c.Text
	for i := 0; i < len(text); {
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		start := i
		for i < len(text) && text[i] != ' ' && text[i] != '\t' {
			i++
		}
		if i > start {
			words = append(words, word{text: text[start:i], pos: c.Slash + token.Pos(start)})
		}
	}
	return words
}

// isDirective reports whether c is a tether directive of any kind.
func isDirective(c *ast.Comment) bool { return strings.HasPrefix(c.Text, directivePrefix) }

// parseDirective parses a //tether:function comment. It reports every
// problem through report and returns ok false when the directive is unusable.
func parseDirective(c *ast.Comment, report func(token.Pos, string, ...any)) (d directive, ok bool) {
	words := splitWords(c)
	d.pos = c.Slash
	if words[0].text != directiveFunction {
		hint := ""
		if suggest.Closest(words[0].text, []string{directiveFunction}) != "" {
			hint = "; did you mean " + directiveFunction + "?"
		}
		report(c.Slash, "unknown directive %s%s", words[0].text, hint)
		return d, false
	}
	ok = true
	args := words[1:]
	if len(args) == 0 || strings.Contains(args[0].text, "=") {
		report(c.Slash, "//tether:function needs a function name first: //tether:function <name> trigger=<component>")
		ok = false
	} else {
		d.name, d.namePos = args[0].text, args[0].pos
		if !nameRE.MatchString(d.name) || len(d.name) > 63 {
			report(d.namePos, "function name %q is not a DNS-1123 label: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters", d.name)
			ok = false
		}
		args = args[1:]
	}
	seen := map[string]bool{}
	for _, a := range args {
		key, value, found := strings.Cut(a.text, "=")
		switch {
		case !found:
			report(a.pos, "%q is not a key=value setting (want trigger=<component>, return=<component> or middleware=<func>)", a.text)
			ok = false
			continue
		case !slices.Contains(directiveKeys, key):
			report(a.pos, "unknown key %q in //tether:function%s (known: %s)", key, suggest.Hint(key, directiveKeys), strings.Join(directiveKeys, ", "))
			ok = false
			continue
		case seen[key]:
			report(a.pos, "key %q set twice", key)
			ok = false
			continue
		}
		seen[key] = true
		if value == "" {
			what := "<component>"
			if key == "middleware" {
				what = "<func>"
			}
			report(a.pos, "key %q has no value: write %s=%s", key, key, what)
			ok = false
			continue
		}
		switch key {
		case "trigger":
			d.trigger = value
		case "return":
			d.ret, d.retPos = value, a.pos
		case "middleware":
			d.mw, d.mwPos = value, a.pos
		}
	}
	if !seen["trigger"] {
		report(c.Slash, "%s has no trigger: add trigger=<input component>", strings.TrimSpace(directiveFunction+" "+d.name))
		ok = false
	}
	return d, ok
}
