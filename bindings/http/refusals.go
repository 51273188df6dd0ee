package http

import (
	"log/slog"
	"sync"
	"time"
)

// refusalLogInterval is how often, at most, an input logs a refused
// signature at WARN.
const refusalLogInterval = 10 * time.Second

// refusalLog logs refused signatures at most once per interval: forged
// requests cost a sender nothing, and one WARN each would turn a flood of
// them into a flood of log lines (and of log bills). The first refusal is
// logged; later ones within the interval are counted, at DEBUG, and the
// next WARN says how many there were.
type refusalLog struct {
	interval time.Duration
	mu       sync.Mutex
	last     time.Time
	skipped  int
}

func (l *refusalLog) refused(logger *slog.Logger, err error, remote string) {
	now := time.Now()
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.skipped++
		l.mu.Unlock()
		logger.Debug("webhook signature refused", "error", err, "remote", remote)
		return
	}
	skipped := l.skipped
	l.last, l.skipped = now, 0
	l.mu.Unlock()
	logger.Warn("webhook signature refused", "error", err, "remote", remote,
		"refusedSinceLastWarning", skipped, "warningsAtMostEvery", l.interval)
}
