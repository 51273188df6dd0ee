//go:build !tether_drivers || tether_cron

package main

import _ "github.com/tetherfn/tether/bindings/cron"
