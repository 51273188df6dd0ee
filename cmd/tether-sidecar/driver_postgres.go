//go:build !tether_drivers || tether_postgres

package main

import _ "github.com/tetherfn/tether/bindings/postgres"
