package cli_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tetherfn/tether/cmd/tether/cli"
)

// commandLine finds a tether command where a reader would type one: at the
// start of a code line or span, or after "go tool ", "$ ", "&& ", "| " or
// "; ". It stops at what cannot be part of the command.
var commandLine = regexp.MustCompile("(?:^|go tool |go run \\./cmd/|\\$ |&& |\\| |; |`)tether ((?:[a-z][a-z0-9-]*|--[a-z][a-z0-9-]*)(?:[ =][^ `|;&)]*)*)")

// docFiles are the files whose commands users copy: the READMEs, docs/,
// the templates (scaffolded READMEs, Dockerfiles, component comments) and
// the Dockerfile.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{filepath.Join(root, "README.md"), filepath.Join(root, "DEVELOPERS.md"), filepath.Join(root, "Dockerfile")}
	for _, dir := range []string{"docs", "template", "examples"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".md") || strings.HasSuffix(p, ".tmpl") || d.Name() == "Dockerfile") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// codeOf returns the parts of a line that are code: the whole line inside a
// fenced block or in a template or Dockerfile, the `spans` elsewhere.
func codeOf(line string, fenced, markdown bool) []string {
	if fenced || !markdown {
		return []string{strings.TrimLeft(line, "# \t")}
	}
	var spans []string
	parts := strings.Split(line, "`")
	for i := 1; i < len(parts); i += 2 {
		spans = append(spans, parts[i])
	}
	return spans
}

// TestDocsNameRealCommands: every tether command and flag that the docs,
// READMEs, templates and Dockerfile show exists, so that what a user copies
// from them runs (docs drift: the Dockerfile once named a tether build that
// did not exist), and each command's --help runs. Every folder of docs
// (docs/bindings among them) must yield commands, so that a change of the
// pattern cannot silently skip one.
func TestDocsNameRealCommands(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// The check itself can fail.
	for line, bad := range map[string]bool{"run . --addr 127.0.0.1:0": false, "components list": false,
		"run --nope": true, "launch .": true, "components lst": true, "--version": false} {
		if msg, _ := checkCommand(line); (msg != "") != bad {
			t.Fatalf("checkCommand(%q) = %q; want a problem: %v", line, msg, bad)
		}
	}
	checked := 0
	perFolder := map[string]int{}
	commands := map[string]string{} // command path → where the docs first name it
	for _, path := range docFiles(t, root) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, path)
		markdown := strings.HasSuffix(path, ".md") || strings.HasSuffix(path, ".md.tmpl")
		fenced := false
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if markdown && strings.HasPrefix(strings.TrimSpace(line), "```") {
				fenced = !fenced
				continue
			}
			for _, code := range codeOf(line, fenced, markdown) {
				for _, m := range commandLine.FindAllStringSubmatch(code, -1) {
					msg, path := checkCommand(m[1])
					if msg != "" {
						t.Errorf("%s:%d: tether %s: %s", rel, n, m[1], msg)
					} else if _, seen := commands[path]; !seen {
						commands[path] = fmt.Sprintf("%s:%d", rel, n)
					}
					checked++
					perFolder[filepath.Dir(rel)]++
				}
			}
		}
		f.Close()
	}
	if checked < 50 {
		t.Errorf("found only %d tether commands in the docs: is the pattern still right?", checked)
	}
	for _, dir := range []string{"docs", filepath.Join("docs", "bindings"), "template", "examples"} {
		if perFolder[dir] == 0 && !hasSubfolderHits(perFolder, dir) {
			t.Errorf("no tether command found in %s: is the pattern, or docFiles, still right?", dir)
		}
	}
	t.Logf("commands per folder: %v; %d distinct", perFolder, len(commands))
	// Each command the docs name answers --help, as a user trying it would
	// first type.
	for path, where := range commands {
		var stdout, stderr strings.Builder
		args := append(strings.Fields(path), "--help")
		if code := cli.Run(context.Background(), &cli.Env{Stdout: &stdout, Stderr: &stderr}, args); code != 0 || !strings.Contains(stdout.String(), "Usage:") {
			t.Errorf("%s: tether %s: exit %d, stdout %q, stderr %q", where, strings.Join(args, " "), code, stdout.String(), stderr.String())
		}
	}
}

// hasSubfolderHits reports whether a folder under dir yielded commands
// (template/ keeps its files in subfolders).
func hasSubfolderHits(perFolder map[string]int, dir string) bool {
	for d, n := range perFolder {
		if n > 0 && strings.HasPrefix(d, dir+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// prose are words after "tether" in a comment that make it the name of the
// command in a sentence ("tether is the whole command line"), not a command.
var prose = map[string]bool{"is": true, "wires": true, "runs": true, "renders": true, "in": true, "for": true, "command": true}

// checkCommand says what is wrong with a command line as written, "" if
// nothing: the command must exist and each --flag must be one of its flags.
// path is the command's path below tether ("components list"; "" for
// tether itself, or a sentence that names tether).
func checkCommand(line string) (msg, path string) {
	var words, flags []string
	for _, w := range strings.Fields(line) {
		switch {
		case strings.HasPrefix(w, "--"):
			name, _, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
			flags = append(flags, strings.TrimRight(name, ".,:"))
		case len(flags) == 0 && regexp.MustCompile(`^[a-z][a-z0-9-]*$`).MatchString(w):
			words = append(words, w)
		}
	}
	if len(words) > 0 && prose[words[0]] {
		return "", ""
	}
	root := cli.NewRoot(&cli.Env{Stdout: new(strings.Builder), Stderr: new(strings.Builder)})
	root.InitDefaultCompletionCmd() // cobra adds it when the command runs
	cmd := root
	if len(words) > 0 {
		c, _, err := root.Find(words[:1])
		if err != nil || c == root {
			return "no such command", ""
		}
		cmd = c
		// A second word may be a subcommand (components list).
		if len(words) > 1 && cmd.HasSubCommands() {
			c, _, err := cmd.Find(words[1:2])
			if err != nil || c == cmd {
				return "no such command: " + cmd.Name() + " " + words[1], ""
			}
			cmd = c
		}
	}
	for _, fl := range flags {
		if fl == "" || fl == "help" {
			continue
		}
		if lookupFlag(cmd, fl) == nil {
			return "unknown flag --" + fl + " (tether " + cmd.CommandPath() + " --help lists them)", ""
		}
	}
	return "", strings.TrimSpace(strings.TrimPrefix(cmd.CommandPath(), root.Name()))
}

func lookupFlag(cmd *cobra.Command, name string) any {
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	if f := cmd.InheritedFlags().Lookup(name); f != nil {
		return f
	}
	if name == "version" && !cmd.HasParent() {
		return name
	}
	return nil
}
