// Package cron is Tether's cron binding, type "bindings.cron": an input that
// delivers one message per tick of a schedule, in Dapr's schedule syntax
// (robfig/cron: five fields, or six with seconds first; descriptors such as
// @hourly and @every 15s; a CRON_TZ= prefix for the time zone).
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: nightly
//	spec:
//	  type: bindings.cron
//	  version: v1
//	  metadata:
//	  - name: schedule
//	    value: "CRON_TZ=Europe/Paris 0 30 2 * * *"
//
// A tick whose handler fails is retried by the trigger's policy (the input
// honours the delay of a nack) and dead-lettered after its attempts. Ticks do
// not overlap: a tick that comes while the previous one is unsettled is
// skipped, unless allowOverlap is set. With several replicas, a lock in Redis
// (lockRedisHost) or PostgreSQL (lockConnectionString) makes exactly one of
// them fire each tick. See docs/bindings/cron.md.
package cron

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // CRON_TZ must work in images without a zoneinfo database

	robfig "github.com/robfig/cron/v3"

	"github.com/tetherfn/tether/bindings"
)

// TypeName is the binding type's name in component files.
const TypeName = "bindings.cron"

// Metadata keys of an input message.
const (
	// MetaSchedule is the component's schedule.
	MetaSchedule = "schedule"
	// MetaScheduledTime is the tick's time, RFC 3339 in UTC (also the
	// message ID).
	MetaScheduledTime = "scheduledTime"
	// MetaTimeZone is the schedule's time zone (Dapr's "timeZone").
	MetaTimeZone = "timeZone"
	// MetaReadTimeUTC is when the tick fired (Dapr's "readTimeUTC").
	MetaReadTimeUTC = "readTimeUTC"
)

// Tick is the payload of a cron message, as JSON: a handler can take a Tick
// as its input type.
type Tick struct {
	Schedule      string    `json:"schedule"`
	ScheduledTime time.Time `json:"scheduledTime"`
	FiredTime     time.Time `json:"firedTime"`
}

func init() { bindings.Register(Type) }

// Type declares bindings.cron.
var Type = bindings.Type{
	Name:       TypeName,
	Version:    "v1",
	Summary:    "Cron: a message per tick of a schedule; no overlap, retries with delays, optional single fire across replicas.",
	Directions: bindings.DirInput,
	Capabilities: bindings.Capabilities{
		DelayedNack:   true,
		DeliveryCount: true,
	},
	Metadata: []bindings.MetadataKey{
		{Name: "schedule", Kind: bindings.KindString, Required: true, Example: "@every 15s",
			Description: `When to fire: five cron fields (minute hour day-of-month month day-of-week), or six with seconds first; a descriptor (@yearly, @monthly, @weekly, @daily, @hourly, @every 1m30s); optionally prefixed with "CRON_TZ=Area/City " (default: the process's local time zone).`},
		{Name: "allowOverlap", Kind: bindings.KindBool, Default: "false",
			Description: "Fire a tick while the previous one is still unsettled (being handled or waiting for a retry). By default such a tick is skipped and logged."},
		{Name: "lockRedisHost", Kind: bindings.KindString,
			Description: "Redis host:port holding the lock that makes one replica fire each tick (SET NX with lockTTL)."},
		{Name: "lockRedisUsername", Kind: bindings.KindString,
			Description: "Redis user name (ACL), with lockRedisHost."},
		{Name: "lockRedisPassword", Kind: bindings.KindString, Secret: true,
			Description: "Redis password, with lockRedisHost."},
		{Name: "lockRedisDB", Kind: bindings.KindInt, Default: "0",
			Description: "Redis database, with lockRedisHost."},
		{Name: "lockConnectionString", Kind: bindings.KindString, Secret: true,
			Description: "PostgreSQL connection string (URL or key=value) of the database holding the lock that makes one replica fire each tick. Exclusive with lockRedisHost."},
		{Name: "lockTable", Kind: bindings.KindString, Default: "tether_cron_locks",
			Description: "Table of the PostgreSQL lock (key, holder, expires_at), created if missing; optionally schema-qualified."},
		{Name: "lockPrefix", Kind: bindings.KindString,
			Description: `Prefix of the lock keys ("<lockPrefix>:<tick time>"). Replicas of one function must share it and other schedules must not. Default: "tether:cron:<component name>".`},
		{Name: "lockTTL", Kind: bindings.KindDuration, Default: "1m",
			Description: "How long a tick's lock is kept: more than the clock difference between replicas, or a late replica fires the tick again. Also the lease of the lock that keeps ticks from overlapping across replicas, renewed while a tick is unsettled."},
	},
	InputMetadata: []bindings.MetadataKey{
		{Name: MetaSchedule, Kind: bindings.KindString, Description: "The component's schedule."},
		{Name: MetaScheduledTime, Kind: bindings.KindString, Description: "The tick's time, RFC 3339 in UTC; also the message ID."},
		{Name: MetaTimeZone, Kind: bindings.KindString, Description: "The schedule's time zone (as Dapr)."},
		{Name: MetaReadTimeUTC, Kind: bindings.KindString, Description: "When the tick fired, RFC 3339 in UTC (as Dapr's readTimeUTC)."},
	},
	Check:    func(cfg bindings.Config, _ bindings.Direction) error { _, err := parse(cfg); return err },
	NewInput: func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) { return openInput(ctx, cfg) },
}

// parser reads Dapr's schedule syntax.
var parser = robfig.NewParser(robfig.SecondOptional | robfig.Minute | robfig.Hour | robfig.Dom | robfig.Month | robfig.Dow | robfig.Descriptor)

// schedule is a parsed schedule whose ticks every replica computes alike.
type schedule struct {
	spec  string
	next  func(time.Time) time.Time
	where *time.Location
}

// parseSchedule parses spec. "@every d" fires at the multiples of d since the
// Unix epoch (robfig counts from the process start), so that replicas agree
// on every tick.
func parseSchedule(spec string) (s schedule, err error) {
	spec = strings.TrimSpace(spec)
	if rest, ok := cutTZ(spec); ok && strings.TrimSpace(rest) == "" {
		return s, fmt.Errorf("%q: a time zone prefix needs a schedule after it", spec)
	}
	defer func() {
		if r := recover(); r != nil { // the parser has panicked on odd input before
			err = fmt.Errorf("%q is not a schedule: %v", spec, r)
		}
	}()
	parsed, err := parser.Parse(spec)
	if err != nil {
		return s, fmt.Errorf("%q is not a schedule: %w", spec, err)
	}
	s = schedule{spec: spec, next: parsed.Next, where: time.Local}
	switch p := parsed.(type) {
	case robfig.ConstantDelaySchedule:
		every := p.Delay
		s.next = func(t time.Time) time.Time {
			n := t.UnixNano() / int64(every)
			return time.Unix(0, (n+1)*int64(every))
		}
	case *robfig.SpecSchedule:
		s.where = p.Location
	}
	if s.next(time.Now()).IsZero() {
		return s, fmt.Errorf("%q never fires", spec)
	}
	return s, nil
}

func cutTZ(spec string) (string, bool) {
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(spec, p); ok {
			_, after, found := strings.Cut(rest, " ")
			if !found {
				return "", true
			}
			return after, true
		}
	}
	return spec, false
}

var tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// settings are the validated metadata.
type settings struct {
	sched        schedule
	allowOverlap bool
	redisHost    string
	redisUser    string
	redisPass    string
	redisDB      int
	pgConn       string
	table        string
	prefix       string
	ttl          time.Duration
}

func parse(cfg bindings.Config) (settings, error) {
	md := cfg.Values()
	var s settings
	var err error
	if s.sched, err = parseSchedule(md.String("schedule")); err != nil {
		return s, &bindings.KeyError{Key: "schedule", Msg: err.Error()}
	}
	s.allowOverlap = md.Bool("allowOverlap")
	s.redisHost = strings.TrimSpace(md.String("lockRedisHost"))
	s.redisUser, s.redisPass, s.redisDB = md.String("lockRedisUsername"), md.String("lockRedisPassword"), md.Int("lockRedisDB")
	s.pgConn = md.String("lockConnectionString")
	s.table = md.String("lockTable")
	s.prefix = md.String("lockPrefix")
	if s.prefix == "" {
		s.prefix = "tether:cron:" + cfg.Name
	}
	s.ttl = md.Duration("lockTTL")
	switch {
	case s.redisHost != "" && s.pgConn != "":
		return s, &bindings.KeyError{Key: "lockConnectionString", Msg: "set lockRedisHost or lockConnectionString, not both"}
	case s.redisHost != "" && !strings.Contains(s.redisHost, ":"):
		return s, &bindings.KeyError{Key: "lockRedisHost", Msg: fmt.Sprintf("%q is not a host:port address", s.redisHost)}
	case s.redisDB < 0:
		return s, &bindings.KeyError{Key: "lockRedisDB", Msg: "must not be negative"}
	case !tableRE.MatchString(s.table):
		return s, &bindings.KeyError{Key: "lockTable", Msg: fmt.Sprintf("%q is not a table name (letters, digits, _; optionally schema.table)", s.table)}
	case s.ttl <= 0:
		return s, &bindings.KeyError{Key: "lockTTL", Msg: "must be positive"}
	}
	return s, nil
}
