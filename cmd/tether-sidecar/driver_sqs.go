//go:build !tether_drivers || tether_sqs

package main

import _ "github.com/tetherfn/tether/bindings/sqs"
