//go:build !tether_drivers || tether_mqtt

package main

import _ "github.com/tetherfn/tether/bindings/mqtt"
