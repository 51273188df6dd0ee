package dev

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/format"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// The Message page's "save as test": a functions/fntest test, written into
// the function's package, that sends the message's payload and metadata to
// the function once and asserts the outcome and the outputs that attempt
// produced. The page gathers them from the delivery events and posts them.

// savedMessage is what the page posts.
type savedMessage struct {
	Function    string            `json:"function"`
	Binding     string            `json:"binding"`
	MessageID   string            `json:"messageId"`
	Attempt     int               `json:"attempt"`
	Outcome     string            `json:"outcome"` // of that attempt
	Payload     string            `json:"payload"`
	Encoding    string            `json:"payloadEncoding"` // "" or base64
	Truncated   bool              `json:"payloadTruncated"`
	ContentType string            `json:"contentType"`
	Metadata    map[string]string `json:"metadata"`
	Outputs     []savedOutput     `json:"outputs"`
}

type savedOutput struct {
	Output    string `json:"output"`
	Payload   string `json:"payload"`
	Encoding  string `json:"payloadEncoding"`
	Truncated bool   `json:"payloadTruncated"`
}

func (s *server) serveSaveTest(w http.ResponseWriter, r *http.Request) {
	var m savedMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&m); err != nil {
		jsonError(w, http.StatusBadRequest, err)
		return
	}
	f := s.function(m.Function)
	if f == nil {
		jsonError(w, http.StatusNotFound, fmt.Errorf("no function %q", m.Function))
		return
	}
	// What went to the dead-letter binding is the outcome, not an output.
	for _, fv := range s.topology(r.Context()) {
		if fv.Name == m.Function && fv.DeadLetter != "" {
			m.Outputs = slices.DeleteFunc(m.Outputs, func(o savedOutput) bool { return o.Output == fv.DeadLetter })
		}
	}
	path, src, err := saveTest(f.pkgDir, m)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, map[string]string{"path": rel(s.opts.Dir, path), "source": string(src),
		"run": fmt.Sprintf("go test -run '^%s$' ./%s", testName(m), filepath.ToSlash(rel(s.opts.Dir, f.pkgDir)))})
}

// saveTest writes m's test into pkgDir and returns its path and source.
func saveTest(pkgDir string, m savedMessage) (string, []byte, error) {
	if m.Truncated {
		return "", nil, errors.New("the payload was cut to its first bytes in the delivery events: it cannot be recreated")
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{.Name}}", ".")
	cmd.Dir = pkgDir
	out, err := cmd.Output()
	if err != nil {
		return "", nil, fmt.Errorf("go list %s: %w", pkgDir, err)
	}
	importPath, pkgName, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	ctor, err := constructor(pkgDir, m.Function)
	if err != nil {
		return "", nil, err
	}
	src, err := testSource(importPath, pkgName, ctor, m)
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("%s_saved_%s_test.go", sanitize(m.Function), sanitize(m.MessageID))
	path := filepath.Join(pkgDir, name)
	return path, src, os.WriteFile(path, src, 0o644)
}

var ctorRE = regexp.MustCompile(`func (\w+)\(\) trigger\.Function \{[^}]*?Name:\s+("(?:[^"\\]|\\.)*")`)

// constructor finds, in the package's generated code, the function that
// returns function fn.
func constructor(pkgDir, fn string) (string, error) {
	files, _ := filepath.Glob(filepath.Join(pkgDir, "*_gen.go"))
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		for _, m := range ctorRE.FindAllSubmatch(src, -1) {
			if name, err := strconv.Unquote(string(m[2])); err == nil && name == fn {
				return string(m[1]), nil
			}
		}
	}
	return "", fmt.Errorf("no generated constructor of function %s in %s (run tether generate)", fn, pkgDir)
}

func testName(m savedMessage) string {
	return "Test" + exported(m.Function) + "Saved" + exported(sanitize(m.MessageID))
}

func exported(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			up = true
			continue
		}
		if up {
			r, up = unicode.ToUpper(r), false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return unicode.ToLower(r)
		}
		return '_'
	}, s)
	if len(s) > 24 {
		s = s[:24]
	}
	return s
}

func decodePayload(p, encoding string) ([]byte, error) {
	if encoding == "base64" {
		return base64.StdEncoding.DecodeString(p)
	}
	return []byte(p), nil
}

// goBytes is data as a Go expression of type []byte.
func goBytes(data []byte) string {
	if !bytes.ContainsAny(data, "`\r") && strings.ToValidUTF8(string(data), "") == string(data) && !strings.ContainsFunc(string(data), func(r rune) bool {
		return r < 32 && r != '\n' && r != '\t'
	}) {
		return "[]byte(`" + string(data) + "`)"
	}
	return "[]byte(" + strconv.Quote(string(data)) + ")"
}

func testSource(importPath, pkgName, ctor string, m savedMessage) ([]byte, error) {
	payload, err := decodePayload(m.Payload, m.Encoding)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "package %s_test\n\n", pkgName)
	fmt.Fprintf(&b, "import (\n\t\"bytes\"\n\t\"encoding/json\"\n\t\"reflect\"\n\t\"testing\"\n\n\t%q\n\t\"github.com/tetherfn/tether/functions/fntest\"\n\t\"github.com/tetherfn/tether/trigger\"\n)\n\n", importPath)
	fmt.Fprintf(&b, "// %s sends %s's message %s again, as tether dev received it (attempt %d),\n// and checks what the function did with it then. Saved from tether dev's dashboard.\n",
		testName(m), m.Binding, m.MessageID, max(m.Attempt, 1))
	fmt.Fprintf(&b, "func %s(t *testing.T) {\n", testName(m))
	fmt.Fprintf(&b, "\th := fntest.New(t, %s.%s())\n", pkgName, ctor)
	opts := []string{}
	if m.ContentType != "" {
		opts = append(opts, fmt.Sprintf("fntest.ContentType(%q)", m.ContentType))
	}
	if m.Attempt > 1 {
		opts = append(opts, fmt.Sprintf("fntest.Attempt(%d)", m.Attempt))
	}
	if len(m.Metadata) > 0 {
		keys := slices.Sorted(maps.Keys(m.Metadata))
		var items []string
		for _, k := range keys {
			items = append(items, fmt.Sprintf("%q: %q", k, m.Metadata[k]))
		}
		opts = append(opts, "fntest.Metadata(map[string]string{"+strings.Join(items, ", ")+"})")
	}
	fmt.Fprintf(&b, "\tout := h.Send(%s", goBytes(payload))
	for _, o := range opts {
		b.WriteString(",\n\t\t" + o)
	}
	b.WriteString(")\n")
	action := map[string]string{"acked": "Acked", "retry": "RetryLater", "dead-lettered": "DeadLettered", "exhausted": "Exhausted"}[m.Outcome]
	if action == "" {
		return nil, fmt.Errorf("attempt %d ended %q: only acked, retry, dead-lettered and exhausted attempts can be saved", m.Attempt, m.Outcome)
	}
	fmt.Fprintf(&b, "\tif out.Action != trigger.%s {\n\t\tt.Fatalf(\"outcome %%v, want %s\", out)\n\t}\n", action, m.Outcome)
	b.WriteString("\twant := map[string][]string{")
	byOutput := map[string][]string{}
	var names []string
	for _, o := range m.Outputs {
		if o.Truncated {
			return nil, fmt.Errorf("the payload sent to %s was cut to its first bytes in the delivery events: it cannot be asserted", o.Output)
		}
		data, err := decodePayload(o.Payload, o.Encoding)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", o.Output, err)
		}
		if _, ok := byOutput[o.Output]; !ok {
			names = append(names, o.Output)
		}
		byOutput[o.Output] = append(byOutput[o.Output], "string("+goBytes(data)+")")
	}
	for _, n := range names {
		fmt.Fprintf(&b, "\n\t\t%q: {%s},", n, strings.Join(byOutput[n], ", "))
	}
	if len(names) > 0 {
		b.WriteString("\n\t")
	}
	b.WriteString("}\n")
	b.WriteString(`	for output, payloads := range want {
		sent := h.Output(output).Sent()
		if len(sent) != len(payloads) {
			t.Fatalf("%s: sent %d message(s), want %d", output, len(sent), len(payloads))
		}
		for i, p := range payloads {
			if !SAMEPAYLOAD(sent[i].Data, []byte(p)) {
				t.Errorf("%s: message %d is %s, want %s", output, i+1, sent[i].Data, p)
			}
		}
	}
}
`)
	// One helper per file: each saved test names its own.
	helper := `
// SAMEPAYLOAD compares JSON payloads by value, others byte for byte.
func SAMEPAYLOAD(got, want []byte) bool {
	var g, w any
	if json.Unmarshal(got, &g) == nil && json.Unmarshal(want, &w) == nil {
		return reflect.DeepEqual(g, w)
	}
	return bytes.Equal(got, want)
}
`
	b.WriteString(helper)
	// Each saved test has its own helper, so that several live in one package.
	src := strings.ReplaceAll(b.String(), "SAMEPAYLOAD", "samePayload"+strings.TrimPrefix(testName(m), "Test"))
	out, err := format.Source([]byte(src))
	if err != nil {
		return nil, fmt.Errorf("the saved test does not parse: %w\n%s", err, src)
	}
	return out, nil
}
