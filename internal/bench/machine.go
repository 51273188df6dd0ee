package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// machine is what the report says about where it ran.
type machine struct {
	CPU       string
	Cores     int
	GoVersion string
	Commit    string
}

func describeMachine(root string) machine {
	m := machine{CPU: cpuModel(), Cores: runtime.NumCPU(), GoVersion: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out)) + " " + runtime.GOOS + "/" + runtime.GOARCH
	}
	m.Commit = "unknown"
	if out, err := gitIn(root, "log", "-1", "--format=%h %s"); err == nil {
		m.Commit = strings.TrimSpace(out)
		if r := []rune(m.Commit); len(r) > 80 {
			m.Commit = string(r[:79]) + "…"
		}
		if st, err := gitIn(root, "status", "--porcelain", "--untracked-files=no"); err == nil && strings.TrimSpace(st) != "" {
			m.Commit += " (with uncommitted changes)"
		}
	}
	return m
}

func gitIn(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return string(out), err
}

// cpuModel is /proc/cpuinfo's first "model name", or GOARCH.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute figures, or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
