// Package liblog routes the log of a client library that has a single,
// process-wide logger (go-redis's SetLogger) to the loggers of the bindings
// that use the library, so that its lines are redacted like every other line
// of those bindings instead of going to stderr as they are.
//
//	remove := liblog.GoRedis.Add(cfg) // in NewInput/NewOutput
//	defer remove()                    // in Close
package liblog

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
)

// GoRedis receives go-redis's log lines.
var GoRedis = &Router{source: "go-redis"}

func init() { redis.SetLogger(GoRedis) }

// Router hands a library's log lines to the bindings that use it. A line does
// not say which client it is about, so it is redacted with the secrets of
// every binding registered, then logged once, by the latest one (at WARN:
// these libraries log only trouble).
type Router struct {
	source string
	mu     sync.Mutex
	open   []*user
}

type user struct {
	log    *slog.Logger
	redact func(string) string
}

// Add registers the binding opened with cfg until the returned function is
// called.
func (r *Router) Add(cfg bindings.Config) (remove func()) {
	u := &user{log: cfg.Logger, redact: cfg.Redact}
	r.mu.Lock()
	r.open = append(r.open, u)
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if i := slices.Index(r.open, u); i >= 0 {
			r.open = slices.Delete(r.open, i, i+1)
		}
	}
}

// Printf implements go-redis's Logging.
func (r *Router) Printf(ctx context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	r.mu.Lock()
	users := slices.Clone(r.open)
	r.mu.Unlock()
	log := slog.Default() // a client of the library that is no binding's
	for _, u := range users {
		msg = u.redact(msg)
		log = u.log
	}
	log.WarnContext(ctx, msg, "source", r.source)
}
