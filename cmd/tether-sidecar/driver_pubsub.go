//go:build !tether_drivers || tether_pubsub

package main

import _ "github.com/tetherfn/tether/bindings/pubsub"
