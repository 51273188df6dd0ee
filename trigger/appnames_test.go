package trigger_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tetherfn/tether/trigger"
)

// TestPolyglotComponentNames: an input component may be named anything a
// component file allows ("Orders.v1", "orders_in"); polyglot mode must
// deliver it all the same, although function names are DNS labels.
func TestPolyglotComponentNames(t *testing.T) {
	names := []string{"Orders.v1", "orders_v1"} // both would make "app-orders-v1"
	var files []string
	queues := map[string]string{}
	for _, n := range names {
		queues[n] = unique(t, "q")
		files = append(files, memoryComponent(n, queues[n], map[string]string{"direction": "input"}))
	}
	set := loadComponents(t, files...)
	got := make(chan string, len(names))
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			got <- r.URL.Path
		}
	}))
	defer app.Close()
	fns, err := trigger.AppFunctions(context.Background(), set, trigger.AppOptions{URL: app.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := trigger.New(trigger.Options{Components: set, Functions: fns})
	if err != nil {
		t.Fatalf("polyglot functions for components %q: %v", names, err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	want := map[string]bool{}
	for _, n := range names {
		publish(queues[n], "m")
		want["/"+n] = true
	}
	for range names {
		select {
		case p := <-got:
			if !want[p] {
				t.Errorf("unexpected delivery to %s", p)
			}
			delete(want, p)
		case <-time.After(time.Minute):
			t.Fatalf("not delivered: %v", want)
		}
	}
}
