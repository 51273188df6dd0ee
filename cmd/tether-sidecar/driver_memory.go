//go:build !tether_drivers || tether_memory

package main

import _ "github.com/tetherfn/tether/bindings/memory"
