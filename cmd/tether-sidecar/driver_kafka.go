//go:build !tether_drivers || tether_kafka

package main

import _ "github.com/tetherfn/tether/bindings/kafka"
