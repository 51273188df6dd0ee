package http

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
)

// replayStore remembers the signed requests an input has handled, so that
// the same signed request is handled once within its window. A key is held
// "in flight" while its request is handled and kept as "handled" once the
// request succeeded; when the request failed it is forgotten, so that the
// sender's retry of the same signed request is accepted.
//
// The memory store is the default; Redis and PostgreSQL share the memory
// between replicas.
type replayStore interface {
	// reserve marks key in flight: ErrReplayed when it was handled before
	// until, errInFlight while another request with it is handled, another
	// error when the store cannot answer. An in-flight mark lapses after
	// inFlightTTL, so that a replica lost while handling does not block the
	// sender's retries for the whole window.
	reserve(ctx context.Context, key string, until, now time.Time) error
	// settle ends key's handling: kept as handled until until when ok,
	// forgotten otherwise.
	settle(ctx context.Context, key string, until time.Time, ok bool) error
	close() error
}

// errInFlight: the same signed request is being handled right now.
var errInFlight = errors.New("the same signed request is being handled")

// storeOpTimeout bounds one call to a shared store: a request waits on it.
const storeOpTimeout = 5 * time.Second

// replaySettings are the replay keys, validated.
type replaySettings struct {
	window      time.Duration // github, twilio: 0 means no memory
	cacheSize   int
	redisHost   string
	redisUser   string
	redisPass   string
	redisDB     int
	pgConn      string
	table       string
	prefix      string
	inFlightTTL time.Duration
}

var tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

func parseReplay(name string, md bindings.Metadata, v verifier, responseTimeout time.Duration) (replaySettings, error) {
	s := replaySettings{
		window: md.Duration("replayWindow"), cacheSize: md.Int("replayCacheSize"),
		redisHost: strings.TrimSpace(md.String("replayRedisHost")), redisUser: md.String("replayRedisUsername"),
		redisPass: md.String("replayRedisPassword"), redisDB: md.Int("replayRedisDB"),
		pgConn: md.String("replayConnectionString"), table: md.String("replayTable"), prefix: md.String("replayPrefix"),
		// An in-flight request is answered within responseTimeout; the
		// margin covers the handler's settle after it.
		inFlightTTL: responseTimeout + 30*time.Second,
	}
	if s.prefix == "" {
		s.prefix = "tether:replay:" + name
	}
	switch v.(type) {
	case *githubVerifier, *twilioVerifier:
	default:
		if s.window != 0 {
			return s, &bindings.KeyError{Key: "replayWindow", Msg: "only for signature github or twilio, which sign no timestamp; the others' window is tolerance"}
		}
	}
	switch {
	case s.window < 0:
		return s, &bindings.KeyError{Key: "replayWindow", Msg: "must not be negative"}
	case s.cacheSize <= 0:
		return s, &bindings.KeyError{Key: "replayCacheSize", Msg: "must be positive"}
	case s.redisHost != "" && s.pgConn != "":
		return s, &bindings.KeyError{Key: "replayConnectionString", Msg: "set replayRedisHost or replayConnectionString, not both"}
	case s.redisHost != "" && !strings.Contains(s.redisHost, ":"):
		return s, &bindings.KeyError{Key: "replayRedisHost", Msg: fmt.Sprintf("%q is not a host:port address", s.redisHost)}
	case s.redisDB < 0:
		return s, &bindings.KeyError{Key: "replayRedisDB", Msg: "must not be negative"}
	case !tableRE.MatchString(s.table):
		return s, &bindings.KeyError{Key: "replayTable", Msg: fmt.Sprintf("%q is not a table name (letters, digits, _; optionally schema.table)", s.table)}
	}
	return s, nil
}

// openReplayStore opens the store the settings name; nil when the verifier
// has no window (no signature, or github/twilio without replayWindow).
func openReplayStore(ctx context.Context, s replaySettings, v verifier) (replayStore, error) {
	switch v.(type) {
	case nil:
		return nil, nil
	case *githubVerifier, *twilioVerifier:
		if s.window == 0 {
			return nil, nil
		}
	}
	switch {
	case s.redisHost != "":
		return openRedisReplay(ctx, s)
	case s.pgConn != "":
		return openPGReplay(ctx, s)
	}
	return newMemoryReplay(s.cacheSize, s.inFlightTTL), nil
}

// memoryReplay is a bounded LRU: past size keys, the least recently
// reserved one is forgotten first, so that a flood of valid signatures
// costs bounded memory (and a replay of a forgotten one is accepted).
type memoryReplay struct {
	mu          sync.Mutex
	size        int
	inFlightTTL time.Duration
	order       *list.List // of *memoryEntry, most recently reserved first
	keys        map[string]*list.Element
}

type memoryEntry struct {
	key      string
	until    time.Time
	inFlight bool
}

func newMemoryReplay(size int, inFlightTTL time.Duration) *memoryReplay {
	return &memoryReplay{size: size, inFlightTTL: inFlightTTL, order: list.New(), keys: map[string]*list.Element{}}
}

func (m *memoryReplay) reserve(_ context.Context, key string, until, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.keys[key]; ok {
		e := el.Value.(*memoryEntry)
		if !now.After(e.until) {
			if e.inFlight {
				return errInFlight
			}
			return ErrReplayed
		}
		m.order.Remove(el)
		delete(m.keys, key)
	}
	// Expired keys at the old end go first, then the oldest while full.
	for back := m.order.Back(); back != nil; back = m.order.Back() {
		if e := back.Value.(*memoryEntry); m.order.Len() < m.size && !now.After(e.until) {
			break
		}
		delete(m.keys, back.Value.(*memoryEntry).key)
		m.order.Remove(back)
	}
	m.keys[key] = m.order.PushFront(&memoryEntry{key: key, until: minTime(until, now.Add(m.inFlightTTL)), inFlight: true})
	return nil
}

func (m *memoryReplay) settle(_ context.Context, key string, until time.Time, ok bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, found := m.keys[key]
	if !found {
		return nil
	}
	if ok {
		e := el.Value.(*memoryEntry)
		e.inFlight, e.until = false, until
		return nil
	}
	m.order.Remove(el)
	delete(m.keys, key)
	return nil
}

func (m *memoryReplay) close() error { return nil }

func (m *memoryReplay) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// ttlUntil is the time from now to until, at least a millisecond (the
// stores' unit).
func ttlUntil(until, now time.Time) time.Duration { return max(until.Sub(now), time.Millisecond) }

// redisReplay keeps "<prefix>:<key>" in Redis: SET NX with the in-flight
// mark ("0") and its expiry, then the handled mark ("1") until the window
// ends.
type redisReplay struct {
	c           *goredis.Client
	prefix      string
	inFlightTTL time.Duration
}

func openRedisReplay(ctx context.Context, s replaySettings) (*redisReplay, error) {
	c := goredis.NewClient(&goredis.Options{
		Addr: s.redisHost, Username: s.redisUser, Password: s.redisPass, DB: s.redisDB,
		DisableIdentity: true,
	})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("replay store: redis %s: %w", s.redisHost, err)
	}
	return &redisReplay{c: c, prefix: s.prefix + ":", inFlightTTL: s.inFlightTTL}, nil
}

func (r *redisReplay) reserve(ctx context.Context, key string, until, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, storeOpTimeout)
	defer cancel()
	for range 2 { // the key may expire between SET NX and GET: try again once
		ok, err := r.c.SetNX(ctx, r.prefix+key, "0", ttlUntil(minTime(until, now.Add(r.inFlightTTL)), now)).Result()
		if err != nil {
			return fmt.Errorf("replay store: %w", err)
		}
		if ok {
			return nil
		}
		v, err := r.c.Get(ctx, r.prefix+key).Result()
		switch {
		case errors.Is(err, goredis.Nil):
			continue
		case err != nil:
			return fmt.Errorf("replay store: %w", err)
		case v == "1":
			return ErrReplayed
		default:
			return errInFlight
		}
	}
	return errInFlight
}

func (r *redisReplay) settle(ctx context.Context, key string, until time.Time, ok bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeOpTimeout)
	defer cancel()
	var err error
	if ok {
		err = r.c.Set(ctx, r.prefix+key, "1", ttlUntil(until, time.Now())).Err()
	} else {
		err = r.c.Del(ctx, r.prefix+key).Err()
	}
	if err != nil {
		return fmt.Errorf("replay store: %w", err)
	}
	return nil
}

func (r *redisReplay) close() error { return r.c.Close() }

// pgReplay keeps the keys as rows (key, handled, expires_at) of a table;
// the database's clock decides expiry, so replicas' clocks need not agree.
type pgReplay struct {
	pool        *pgxpool.Pool
	table       string // quoted
	prefix      string
	inFlightTTL time.Duration

	mu        sync.Mutex
	nextSweep time.Time
}

func openPGReplay(ctx context.Context, s replaySettings) (*pgReplay, error) {
	pool, err := pgxpool.New(ctx, s.pgConn)
	if err != nil {
		return nil, fmt.Errorf("replay store: postgresql: %w", err)
	}
	table := pgx.Identifier(strings.Split(s.table, ".")).Sanitize()
	_, err = pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		key text PRIMARY KEY,
		handled boolean NOT NULL,
		expires_at timestamptz NOT NULL)`)
	if err != nil {
		var exists bool
		// Replicas starting together race to create it; one wins.
		if qerr := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.table).Scan(&exists); qerr != nil || !exists {
			pool.Close()
			return nil, fmt.Errorf("replay store: create table %s: %w", table, err)
		}
	}
	return &pgReplay{pool: pool, table: table, prefix: s.prefix + ":", inFlightTTL: s.inFlightTTL}, nil
}

func (p *pgReplay) reserve(ctx context.Context, key string, until, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, storeOpTimeout)
	defer cancel()
	p.mu.Lock()
	sweep := now.After(p.nextSweep)
	if sweep {
		p.nextSweep = now.Add(time.Minute)
	}
	p.mu.Unlock()
	if sweep { // expired rows go once a minute, so that the table stays small
		if _, err := p.pool.Exec(ctx, `DELETE FROM `+p.table+` WHERE expires_at < now()`); err != nil {
			return fmt.Errorf("replay store: %w", err)
		}
	}
	// Insert the in-flight row (NULL comes back), or take over an expired
	// one; otherwise read whether the live row's request was handled.
	var handled *bool
	err := p.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO `+p.table+` AS r (key, handled, expires_at)
			VALUES ($1, false, now() + $2 * interval '1 millisecond')
			ON CONFLICT (key) DO UPDATE SET handled = false, expires_at = EXCLUDED.expires_at
			WHERE r.expires_at < now()
			RETURNING NULL::boolean AS handled)
		SELECT handled FROM ins
		UNION ALL
		SELECT handled FROM `+p.table+` WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM ins)`,
		p.prefix+key, ttlUntil(minTime(until, now.Add(p.inFlightTTL)), now).Milliseconds()).Scan(&handled)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// The row went between the insert and the read: a rare race,
		// answered as in flight so that the sender tries again.
		return errInFlight
	case err != nil:
		return fmt.Errorf("replay store: %w", err)
	case handled == nil:
		return nil
	case *handled:
		return ErrReplayed
	}
	return errInFlight
}

func (p *pgReplay) settle(ctx context.Context, key string, until time.Time, ok bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeOpTimeout)
	defer cancel()
	var err error
	if ok {
		_, err = p.pool.Exec(ctx, `UPDATE `+p.table+` SET handled = true, expires_at = now() + $2 * interval '1 millisecond' WHERE key = $1`,
			p.prefix+key, ttlUntil(until, time.Now()).Milliseconds())
	} else {
		_, err = p.pool.Exec(ctx, `DELETE FROM `+p.table+` WHERE key = $1 AND NOT handled`, p.prefix+key)
	}
	if err != nil {
		return fmt.Errorf("replay store: %w", err)
	}
	return nil
}

func (p *pgReplay) close() error {
	p.pool.Close()
	return nil
}
