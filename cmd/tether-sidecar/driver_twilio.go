//go:build !tether_drivers || tether_twilio

package main

import _ "github.com/tetherfn/tether/bindings/twilio"
