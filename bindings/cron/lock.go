package cron

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/internal/liblog"
)

// locker is the store that replicas share so that each tick fires once and,
// unless overlap is allowed, never while another replica's tick is
// unsettled.
type locker interface {
	// claim reports whether this replica won key (one key per tick); the
	// key is kept for ttl, longer than replicas' clocks disagree.
	claim(ctx context.Context, key, holder string, ttl time.Duration) (bool, error)
	// lease takes, or renews, key for holder for ttl; false when another
	// holder has it and it has not expired.
	lease(ctx context.Context, key, holder string, ttl time.Duration) (bool, error)
	// release gives key up if holder has it.
	release(ctx context.Context, key, holder string) error
	close()
}

// redisLock keeps the keys in Redis: SET NX PX for a claim, a compare-and-
// expire script for a lease.
// While it is open, go-redis's own log lines go to the binding's logger.
type redisLock struct {
	c      *goredis.Client
	remove func()
}

func openRedisLock(ctx context.Context, cfg bindings.Config, s settings) (*redisLock, error) {
	remove := liblog.GoRedis.Add(cfg)
	c := goredis.NewClient(&goredis.Options{
		Addr: s.redisHost, Username: s.redisUser, Password: s.redisPass, DB: s.redisDB,
		DisableIdentity: true,
	})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		remove()
		return nil, fmt.Errorf("lock store: redis %s: %w", s.redisHost, err)
	}
	return &redisLock{c, remove}, nil
}

func (r *redisLock) claim(ctx context.Context, key, holder string, ttl time.Duration) (bool, error) {
	return r.c.SetNX(ctx, key, holder, ttl).Result()
}

// leaseScript takes the key when it is free or already the holder's, and
// (re)sets its expiry.
var leaseScript = goredis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v == false or v == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
end
return 0`)

var releaseScript = goredis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

func (r *redisLock) lease(ctx context.Context, key, holder string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, r.c, []string{key}, holder, ttl.Milliseconds()).Int()
	return n == 1, err
}

func (r *redisLock) release(ctx context.Context, key, holder string) error {
	return releaseScript.Run(ctx, r.c, []string{key}, holder).Err()
}

func (r *redisLock) close() {
	r.c.Close()
	r.remove()
}

// pgLock keeps the keys as rows of a small table; the database's clock
// decides expiry.
type pgLock struct {
	pool  *pgxpool.Pool
	table string // quoted
}

func openPGLock(ctx context.Context, s settings) (*pgLock, error) {
	pool, err := pgxpool.New(ctx, s.pgConn)
	if err != nil {
		return nil, fmt.Errorf("lock store: postgresql: %w", err)
	}
	table := pgx.Identifier(strings.Split(s.table, ".")).Sanitize()
	_, err = pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		key text PRIMARY KEY,
		holder text NOT NULL,
		expires_at timestamptz NOT NULL)`)
	if err != nil {
		var exists bool
		// Replicas starting together race to create it; one wins.
		if qerr := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.table).Scan(&exists); qerr != nil || !exists {
			pool.Close()
			return nil, fmt.Errorf("lock store: create table %s: %w", table, err)
		}
	}
	return &pgLock{pool: pool, table: table}, nil
}

func (p *pgLock) claim(ctx context.Context, key, holder string, ttl time.Duration) (bool, error) {
	// Expired claims go first, so that the table stays small; a claim
	// expires only after every replica has passed its tick.
	if _, err := p.pool.Exec(ctx, `DELETE FROM `+p.table+` WHERE expires_at < now() - interval '1 second'`); err != nil {
		return false, err
	}
	tag, err := p.pool.Exec(ctx, `INSERT INTO `+p.table+` (key, holder, expires_at)
		VALUES ($1, $2, now() + $3 * interval '1 millisecond') ON CONFLICT (key) DO NOTHING`,
		key, holder, ttl.Milliseconds())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (p *pgLock) lease(ctx context.Context, key, holder string, ttl time.Duration) (bool, error) {
	tag, err := p.pool.Exec(ctx, `INSERT INTO `+p.table+` AS l (key, holder, expires_at)
		VALUES ($1, $2, now() + $3 * interval '1 millisecond')
		ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
		WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()`,
		key, holder, ttl.Milliseconds())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (p *pgLock) release(ctx context.Context, key, holder string) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM `+p.table+` WHERE key = $1 AND holder = $2`, key, holder)
	return err
}

func (p *pgLock) close() { p.pool.Close() }
