//go:build !tether_drivers || tether_smtp

package main

import _ "github.com/tetherfn/tether/bindings/smtp"
