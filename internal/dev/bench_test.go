package dev_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/internal/testkit/syncbuf"
)

// BenchmarkReloadHello measures the hot-reload figure: from saving an edit
// of examples/hello to the first message handled by the new code, while
// names are sent every 5 ms. body edits the handler's body (the greeting
// it builds: generation is skipped), declaration a declaration (the default
// of a settings field's tag: generated again). Run it with a fixed count:
//
//	go test -run '^$' -bench ReloadHello -benchtime 10x ./internal/dev/
//
// It reports the median, fastest and slowest edit besides ns/op.
func BenchmarkReloadHello(b *testing.B) {
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "hello", "hello.go"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("body", func(b *testing.B) {
		const from = `out.Settings.Salutation + ", "`
		if !strings.Contains(string(src), from) {
			b.Fatalf("examples/hello/hello.go has no %s to edit", from)
		}
		benchmarkReload(b, src, func(word string) string { return strings.Replace(string(src), from, `"`+word+`, "`, 1) })
	})
	b.Run("declaration", func(b *testing.B) {
		benchmarkReload(b, src, func(word string) string {
			return strings.Replace(string(src), `default:"Hello"`, `default:"`+word+`"`, 1)
		})
	})
}

// benchmarkReload runs tether dev on examples/hello (src) and saves
// edit(word) b.N times, each time waiting for a greeting by word.
func benchmarkReload(b *testing.B, src []byte, edit func(word string) string) {
	files := map[string]string{"hello/hello.go": string(src)}
	comps, _ := filepath.Glob(filepath.Join("..", "..", "examples", "hello", "components", "*.yaml"))
	for _, c := range comps {
		data, err := os.ReadFile(c)
		if err != nil {
			b.Fatal(err)
		}
		files["hello/components/"+filepath.Base(c)] = string(data)
	}
	dir := module(b, files)
	var logs syncbuf.Buffer
	startDev(b, dir, &logs)

	in, _, err := bindings.OpenInput(b.Context(), bindings.Config{Name: "greetings", Type: memory.TypeName, Metadata: map[string]string{"queue": "greetings"}})
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // names, at a steady rate, on the dev broker in this process
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				memory.Publish("names", &bindings.Message{Data: []byte(`{"name":"Ada"}`), ContentType: "application/json"})
			}
		}
	}()
	greeted := make(chan string, 1<<14)
	go func() {
		for {
			msgs, err := in.Receive(ctx, 100)
			if err != nil {
				return
			}
			for _, m := range msgs {
				in.Ack(ctx, m)
				select {
				case greeted <- string(m.Data):
				default:
				}
			}
		}
	}()

	var took []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		word := fmt.Sprintf("Hi%d", i)
		edited := edit(word)
		began := time.Now()
		write(b, filepath.Join(dir, "hello", "hello.go"), edited)
		deadline := time.After(5 * time.Minute)
	wait:
		for {
			select {
			case g := <-greeted:
				if strings.Contains(g, word+", ") {
					took = append(took, time.Since(began))
					break wait
				}
			case <-deadline:
				b.Fatalf("edit %d: no greeting from the new code after 5 minutes\n%s", i, logs.String())
			}
		}
	}
	b.StopTimer()
	slices.Sort(took)
	if len(took) > 0 {
		b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "ms-median")
		b.ReportMetric(float64(took[0].Milliseconds()), "ms-min")
		b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "ms-max")
		b.Logf("edit → new code handling messages, %d edits: median %s, range %s – %s", len(took),
			took[len(took)/2].Round(time.Millisecond), took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	}
	// Where the time went, as tether dev reports each reload.
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.HasPrefix(line, "tether dev: reloaded") {
			b.Log(line)
		}
	}
}
