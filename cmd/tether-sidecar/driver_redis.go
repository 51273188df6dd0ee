//go:build !tether_drivers || tether_redis

package main

import _ "github.com/tetherfn/tether/bindings/redis"
