package cron

import "time"

// NextTick returns the first tick of schedule after t.
func NextTick(schedule string, t time.Time) (time.Time, error) {
	s, err := parseSchedule(schedule)
	if err != nil {
		return time.Time{}, err
	}
	return s.next(t), nil
}
