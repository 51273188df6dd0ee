package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReferenceIsCurrent says what CI's generate check says, sooner.
func TestReferenceIsCurrent(t *testing.T) {
	path := filepath.Join("..", "..", "..", "..", "docs", "cli.md")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := Markdown(Root()); !bytes.Equal(got, want) {
		t.Errorf("docs/cli.md is out of date: run go generate ./cmd/tether")
	}
}

// TestEveryCommandIsDocumented checks the habits of the commands: each has
// a summary and examples.
func TestEveryCommandIsDocumented(t *testing.T) {
	doc := string(Markdown(Root()))
	for _, c := range Root().Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if c.Short == "" || c.Example == "" && !c.HasAvailableSubCommands() {
			t.Errorf("tether %s: no summary or no Example", c.Name())
		}
		if !strings.Contains(doc, "\n## "+c.CommandPath()+"\n") {
			t.Errorf("no section for %s", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			if sub.Short == "" || sub.Example == "" {
				t.Errorf("%s: no summary or no Example", sub.CommandPath())
			}
		}
	}
}
