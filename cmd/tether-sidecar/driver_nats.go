//go:build !tether_drivers || tether_nats

package main

import _ "github.com/tetherfn/tether/bindings/nats"
