package scaffold

import (
	"fmt"
	"go/token"
	"regexp"
	"strings"

	"golang.org/x/mod/module"
)

// dns1123 is a DNS-1123 label: what Kubernetes names and the runtime
// (trigger.Function) accept as a function name.
var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// CheckName reports whether name can name a function: a DNS-1123 label of
// at most 63 characters. The error suggests a fixed name when there is one.
func CheckName(name string) error {
	if dns1123.MatchString(name) && len(name) <= 63 {
		return nil
	}
	msg := fmt.Sprintf("function name %q is not a DNS-1123 label: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters", name)
	if fixed := fixName(name); fixed != "" && fixed != name {
		msg += fmt.Sprintf("; try %q", fixed)
	}
	return fmt.Errorf("%s", msg)
}

// fixName lower-cases name and turns runs of other characters into '-'.
func fixName(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}

// PackageName derives the Go package name of a function from its name:
// the name without its dashes ("send-email" becomes "sendemail").
func PackageName(name string) string { return strings.ReplaceAll(name, "-", "") }

// CheckPackage reports whether pkg can be the function's package name: a
// Go identifier, not a keyword, not main (the generated mains import it),
// in lower case as Go packages are.
func CheckPackage(pkg string) error {
	switch {
	case token.IsKeyword(pkg):
		return fmt.Errorf("package name %q is a Go keyword", pkg)
	case !token.IsIdentifier(pkg):
		return fmt.Errorf("package name %q is not a Go identifier (letters, digits and '_', not starting with a digit)", pkg)
	case pkg == "main":
		return fmt.Errorf("package name %q cannot be imported by the generated mains", pkg)
	case strings.ToLower(pkg) != pkg:
		return fmt.Errorf("package name %q has upper-case letters; Go package names are lower case", pkg)
	}
	return nil
}

// CheckModule reports whether path can be the new module's path.
func CheckModule(path string) error {
	if err := module.CheckImportPath(path); err != nil {
		return fmt.Errorf("module path %q: %w", path, err)
	}
	return nil
}

// envName turns a component and a metadata key into an environment
// variable name: ("orders-in", "natsURL") gives ORDERS_IN_NATS_URL.
func envName(component, key string) string {
	return upperSnake(component) + "_" + upperSnake(key)
}

// upperSnake splits s at dashes, dots, underscores and camel-case humps
// ("natsURL" is NATS_URL, "MTLSRootCA" MTLS_ROOT_CA) and joins the words in
// upper case with underscores.
func upperSnake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		lower := func(r rune) bool { return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' }
		upper := r >= 'A' && r <= 'Z'
		switch {
		case !lower(r) && !upper:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			continue
		case upper && i > 0 && b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			prevLower := lower(rs[i-1])
			nextLower := i+1 < len(rs) && rs[i+1] >= 'a' && rs[i+1] <= 'z'
			prevUpper := rs[i-1] >= 'A' && rs[i-1] <= 'Z'
			if prevLower || prevUpper && nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteString(strings.ToUpper(string(r)))
	}
	return strings.TrimSuffix(b.String(), "_")
}

// exportedName turns a binding type's last name part into a Go field
// name: "sqs" is Sqs, "local-storage" LocalStorage.
func exportedName(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			if up {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			up = false
		case r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' && b.Len() > 0:
			b.WriteRune(r)
			up = false
		default:
			up = true
		}
	}
	if b.Len() == 0 {
		return "Output"
	}
	return b.String()
}
