//go:build !tether_drivers || tether_rabbitmq

package main

import _ "github.com/tetherfn/tether/bindings/rabbitmq"
