//go:build !tether_drivers || tether_localstorage

package main

import _ "github.com/tetherfn/tether/bindings/localstorage"
